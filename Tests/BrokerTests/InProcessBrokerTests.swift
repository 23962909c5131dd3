import Consumers
import Foundation
import NATSProtocol
import NIOCore
import NIOEmbedded
import StreamStore
import Testing
@testable import Broker

/// The broker in process, without sockets: a connection handler on NIO's testing channel, the stream
/// manager over damaged stores, and a consumer host over a file stream whose writer the test holds.
@Suite struct InProcessBrokerTests {
    final class Directory: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "strata-broker-" + UUID().uuidString
        init() { try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func server(_ directory: Directory, configure: (inout BrokerConfiguration) -> Void = { _ in }) throws -> BrokerServer {
        var configuration = BrokerConfiguration()
        configuration.jetStream = true
        configuration.storeDirectory = directory.path
        configuration.eventLoopThreads = 1
        configure(&configuration)
        let server = try BrokerServer(configuration: configuration)
        server.jetStream!.send = { [weak server] messages in server?.routeInternal(messages) }
        return server
    }

    /// A client connection on a testing channel, connected.
    static func connect(_ server: BrokerServer) async throws -> (NIOAsyncTestingChannel, ClientConnection) {
        let handler = ClientConnection(id: 1, server: server)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(handler)
        try await channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 4222))
        return (channel, handler)
    }

    /// A client connection on a testing channel that has sent CONNECT, `commands` and a PING, its answers taken.
    static func connected(_ server: BrokerServer, id: UInt64, after commands: String) async throws -> (NIOAsyncTestingChannel, ClientConnection) {
        let handler = ClientConnection(id: id, server: server)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(handler)
        try await channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 4222))
        try await channel.writeInbound(ByteBuffer(string: "CONNECT {\"verbose\":false}\r\n" + commands + "PING\r\n"))
        #expect(try await outbound(channel).hasSuffix("PONG\r\n"))
        return (channel, handler)
    }

    static func outbound(_ channel: NIOAsyncTestingChannel) async throws -> String {
        var text = ""
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func theConnectionHandlerAnswersAsNATSDoes() async throws {
        let directory = Directory()
        let server = try Self.server(directory)
        let (channel, _) = try await Self.connect(server)
        #expect(try await Self.outbound(channel).hasPrefix("INFO {"))
        try await channel.writeInbound(ByteBuffer(string: "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB a.* 7\r\nPUB a.b 5\r\nhello\r\nPING\r\n"))
        let answer = try await Self.outbound(channel)
        #expect(answer == "MSG a.b 7 5\r\nhello\r\nPONG\r\n")
        // Protocol garbage: an error, then the connection closes.
        try await channel.writeInbound(ByteBuffer(string: "FOO BAR\r\n"))
        #expect(try await Self.outbound(channel).hasPrefix("-ERR 'Unknown Protocol Operation'"))
        _ = try? await channel.finish()
    }

    /// A publisher that does not wait for its acks is stopped being read once its publishes wait for the
    /// store beyond the bound, and read again once they are stored.
    @Test func aPublisherThatNeverWaitsIsPausedAndResumed() async throws {
        let directory = Directory()
        let server = try Self.server(directory) { $0.maxPublishBytesInFlight = 16 << 10 }
        let stream = try server.jetStream!.streams.create(APIStreamConfig(name: "S", subjects: ["s.>"]))
        let store = try #require(stream.store as? OnDemandFileStream)
        let (channel, handler) = try await Self.connect(server)
        _ = try await Self.outbound(channel)
        try await channel.writeInbound(ByteBuffer(string: "CONNECT {\"verbose\":false}\r\n"))
        // Hold the stream's writer inside an append's completion.
        let held = DispatchSemaphore(value: 0), entered = DispatchSemaphore(value: 0)
        store.append(AppendRequest(subject: "s.hold", payload: [])) { _ in entered.signal(); held.wait() }
        entered.wait()
        let payload = String(repeating: "p", count: 1000)
        for i in 0..<10 { try await channel.writeInbound(ByteBuffer(string: "PUB s.\(i) \(payload.utf8.count)\r\n\(payload)\r\n")) }
        #expect(try await channel.testingEventLoop.submit { handler.routing.publishWindow.paused }.get() == false)
        for i in 10..<20 { try await channel.writeInbound(ByteBuffer(string: "PUB s.\(i) \(payload.utf8.count)\r\n\(payload)\r\n")) }
        #expect(try await channel.testingEventLoop.submit { handler.routing.publishWindow.paused && handler.routing.publishWindow.inFlight > 16 << 10 }.get())
        held.signal()
        // Every publish is stored and its completion reaches the connection's loop: reading resumes.
        try await store.sync()
        for _ in 0..<1000 {
            await channel.testingEventLoop.run()
            if try await channel.testingEventLoop.submit({ !handler.routing.publishWindow.paused }).get() { break }
            await Task.yield()
        }
        #expect(try await channel.testingEventLoop.submit { !handler.routing.publishWindow.paused && handler.routing.publishWindow.inFlight == 0 }.get())
        #expect(store.state.messages == 21)
        _ = try? await channel.finish()
        await server.shutdown()
    }

    /// Publishes the service refuses at once (here: over the stream's max_msg_size) leave nothing counted
    /// in flight, however many there are: the connection is never paused for them.
    @Test func refusedPublishesDoNotStayInFlight() async throws {
        let directory = Directory()
        let server = try Self.server(directory) { $0.maxPublishBytesInFlight = 16 << 10 }
        var config = APIStreamConfig(name: "S", subjects: ["s.>"])
        config.maxMsgSize = 10
        _ = try server.jetStream!.streams.create(config)
        let (channel, handler) = try await Self.connect(server)
        _ = try await Self.outbound(channel)
        try await channel.writeInbound(ByteBuffer(string: "CONNECT {\"verbose\":false}\r\n"))
        let payload = String(repeating: "p", count: 1000)
        for i in 0..<40 { try await channel.writeInbound(ByteBuffer(string: "PUB s.\(i) \(payload.utf8.count)\r\n\(payload)\r\n")) }
        #expect(try await channel.testingEventLoop.submit { !handler.routing.publishWindow.paused && handler.routing.publishWindow.inFlight == 0 }.get())
        _ = try? await channel.finish()
        await server.shutdown()
    }

    @Test func publishWindowDecisions() {
        var window = PublishWindow(limit: 100, streamQueueLimit: 1000)
        let first = window.handed(60, queued: 0)
        #expect(!first)
        var decision = window.handed(60, queued: 0)
        #expect(decision && window.paused)
        decision = window.handed(10, queued: 0)
        #expect(!decision)  // already paused
        decision = window.completed(60)
        #expect(!decision && window.paused)  // 70 left: above half
        decision = window.completed(60)
        #expect(decision && !window.paused && window.inFlight == 10)
        decision = window.completed(10)
        #expect(!decision && window.inFlight == 0)
        // A stream whose writer queue is over its bound pauses a publisher with anything in flight.
        decision = window.handed(1, queued: 5000)
        #expect(decision)
        decision = window.completed(1)
        #expect(decision)
        decision = window.handed(0, queued: 5000)
        #expect(!decision)
    }

    /// A damaged stream directory is reported and left as it is; every other stream opens; its name is
    /// refused to a new stream. Configs are written whole (no temporary file left behind).
    @Test func damagedStreamsAreKeptAsideAndTheRestServed() throws {
        let directory = Directory()
        do {
            let manager = try StreamManager(storeDirectory: directory.path)
            _ = try manager.create(APIStreamConfig(name: "GOOD", subjects: ["good.>"]))
            _ = try manager.create(APIStreamConfig(name: "BADJSON", subjects: ["badjson.>"]))
            _ = try manager.create(APIStreamConfig(name: "NOSTORE", subjects: ["nostore.>"]))
            #expect(!FileManager.default.fileExists(atPath: directory.path + "/streams/GOOD/jetstream.json.tmp"))
            manager.closeAll()
        }
        let streams = directory.path + "/streams"
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: streams + "/BADJSON/jetstream.json"))
        try FileManager.default.removeItem(atPath: streams + "/NOSTORE/stream.json")
        let manager = try StreamManager(storeDirectory: directory.path)
        defer { manager.closeAll() }
        #expect(manager.all.map(\.config.name) == ["GOOD"])
        #expect(manager.damaged.map(\.name) == ["BADJSON", "NOSTORE"])
        #expect(manager.damaged[0].reason.contains("does not decode"))
        #expect(FileManager.default.fileExists(atPath: streams + "/BADJSON/jetstream.json"))
        #expect(throws: APIError.self) { _ = try manager.create(APIStreamConfig(name: "BADJSON", subjects: ["other.>"])) }
    }

    /// A stream whose creation a crash interrupted is still in its staging directory (`.creating-…`): never
    /// answered as created, it is removed at the next start, not served and not reported as damaged.
    @Test func anInterruptedCreateIsRemovedAtStart() throws {
        let directory = Directory()
        let staging = directory.path + "/streams/.creating-HALF-123"
        try FileManager.default.createDirectory(atPath: staging + "/segments", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: staging + "/jetstream.json"))
        let manager = try StreamManager(storeDirectory: directory.path)
        defer { manager.closeAll() }
        #expect(manager.all.isEmpty && manager.damaged.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: staging))
        _ = try manager.create(APIStreamConfig(name: "HALF", subjects: ["half.>"]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/streams") == ["HALF"])
    }

    /// Two creates racing for overlapping subjects: exactly one stream is made.
    @Test func concurrentCreatesWithOverlappingSubjectsMakeOneStream() async throws {
        let directory = Directory()
        let manager = try StreamManager(storeDirectory: directory.path)
        defer { manager.closeAll() }
        let made = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask { (try? manager.create(APIStreamConfig(name: "R\(i)", subjects: ["race.>"]))) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(made == 1)
        #expect(manager.all.count == 1)
        let dirs = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/streams")
        #expect(dirs == [manager.all[0].config.name])
    }

    /// An AckSync is confirmed only once the consumer state that records it is stored; plain acks on a
    /// work queue remove their messages in one batch.
    @Test func ackSyncWaitsForItsStateAndWorkQueueAcksRemove() async throws {
        let directory = Directory()
        let server = try Self.server(directory)
        var config = APIStreamConfig(name: "Q", subjects: ["q.>"])
        config.retention = .workqueue
        let stream = try server.jetStream!.streams.create(config)
        let store = try #require(stream.store as? OnDemandFileStream)
        _ = await store.append(contentsOf: (1...10).map { AppendRequest(subject: "q.\($0)", payload: Array("\($0)".utf8)) })
        var consumer = ConsumerConfig()
        consumer.durableName = "W"
        consumer.ackPolicy = .explicit
        let host = ConsumerHost(engine: ConsumerEngine(stream: "Q", name: "W", config: consumer, startSequence: 1),
                                created: 0, store: store, send: { _ in })
        server.jetStream!.attach(host, to: stream)
        stream.consumers["W"] = host
        host.pull(PullRequest(id: 1, replyTo: "_INBOX.x", batch: 10))
        // Plain acks of 1...5 in one step: one removal.
        host.acknowledgeThenDeliver([1, 2, 3, 4, 5])
        try await store.sync()
        #expect(store.state.messages == 5 && store.state.firstSequence == 6)
        // Hold the writer: the AckSync of 6 must not be confirmed until its state and removal are stored.
        let held = DispatchSemaphore(value: 0), entered = DispatchSemaphore(value: 0)
        store.append(AppendRequest(subject: "q.hold", payload: [])) { _ in entered.signal(); held.wait() }
        entered.wait()
        let confirmed = Flag()
        var cache = JetStreamService.AckTargetCache()
        let subject = ConsumerEngine.ackSubject(stream: "Q", consumer: "W", deliveries: 1, streamSequence: 6, consumerSequence: 6,
                                                timestamp: 0, pending: 0)
        server.jetStream!.acknowledge(subject: subject, body: ByteBuffer(string: "+ACK"), confirm: { confirmed.set() }, cache: &cache)
        #expect(!confirmed.isSet)
        held.signal()
        try await store.sync()
        #expect(confirmed.isSet)
        #expect(try store.consumers().first { $0.name == "W" }?.ackFloorStreamSequence == 6)
        #expect(try store.message(sequence: 6) == nil)
        host.delete()
        await server.shutdown()
    }
}

/// The consumer host over a memory stream on a clock the test moves: ack-wait deadlines follow the host's
/// clock (monotonic in production), not the wall clock.
@Suite struct ConsumerHostClockTests {
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int64 = 1_000_000_000_000
        var now: Int64 { lock.withLock { value } }
        func advance(_ ns: Int64) { lock.withLock { value += ns } }
    }

    final class Sent: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [OutboundMessage] = []
        func add(_ batch: [OutboundMessage]) { lock.withLock { messages += batch } }
        var deliveries: [String] { lock.withLock { messages.compactMap { $0.reply } } }
    }

    @Test func ackWaitRedeliversOnTheHostsClockOnly() async throws {
        let store = try MemoryStream(config: StreamConfig(name: "S"))
        for i in 1...3 { _ = try await store.append(AppendRequest(subject: "s.\(i)", payload: Array("\(i)".utf8))) }
        var config = ConsumerConfig()
        config.durableName = "C"
        config.ackPolicy = .explicit
        config.ackWait = 30_000_000_000
        let clock = Clock(), sent = Sent()
        let host = ConsumerHost(engine: ConsumerEngine(stream: "S", name: "C", config: config, startSequence: 1),
                                created: 0, store: store, send: { sent.add($0) }, clock: { clock.now })
        defer { host.delete() }
        host.pull(PullRequest(id: 1, replyTo: "_INBOX.a", batch: 3))
        #expect(sent.deliveries.count == 3)
        _ = host.acknowledge(2, .ack)
        // 29 s of the host's clock: nothing is due.
        clock.advance(29_000_000_000)
        host.pull(PullRequest(id: 2, replyTo: "_INBOX.b", batch: 3))
        host.tick()
        #expect(sent.deliveries.count == 3)
        // Past the ack wait: 1 and 3 (not the acknowledged 2) are delivered again, as second deliveries.
        clock.advance(2_000_000_000)
        host.tick()
        let again = sent.deliveries.dropFirst(3)
        #expect(again.count == 2)
        #expect(again.allSatisfy { $0.hasPrefix("$JS.ACK.S.C.2.") })
        #expect(again.map { $0.split(separator: ".")[5] } == ["1", "3"])
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
