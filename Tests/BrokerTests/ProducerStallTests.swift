import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import Broker

/// nats-server's fast-producer stall: a client publishing to a subscriber that is over half its max_pending is
/// not read until that subscriber drains, or for 100 ms at the longest.
@Suite struct ProducerStallTests {
    @Test func producersWaitForTheSubscriberToDrainAndAreToldOnce() {
        let stall = ProducerStall()
        let told = Mutex(0)
        stall.whenDrained { told.withLock { $0 += 1 } }
        #expect(told.withLock { $0 } == 1)  // not stalling: at once
        stall.writabilityChanged(writable: false)
        #expect(stall.isStalling)
        stall.whenDrained { told.withLock { $0 += 10 } }
        stall.whenDrained { told.withLock { $0 += 100 } }
        #expect(told.withLock { $0 } == 1)
        stall.writabilityChanged(writable: false)
        #expect(told.withLock { $0 } == 1)
        stall.writabilityChanged(writable: true)
        #expect(!stall.isStalling && told.withLock { $0 } == 111)
        stall.writabilityChanged(writable: true)
        #expect(told.withLock { $0 } == 111)
        stall.writabilityChanged(writable: false)
        stall.whenDrained { told.withLock { $0 += 1000 } }
        stall.release()
        #expect(told.withLock { $0 } == 1111)
    }

    static func setWritable(_ channel: NIOAsyncTestingChannel, _ writable: Bool) async throws {
        channel.isWritable = writable
        try await channel.testingEventLoop.submit { channel.pipeline.fireChannelWritabilityChanged() }.get()
    }

    static func stalled(_ channel: NIOAsyncTestingChannel, _ handler: ClientConnection) async throws -> Bool {
        try await channel.testingEventLoop.submit { handler.stalledReading }.get()
    }

    @Test func aPublisherIsNotReadWhileItsSubscriberLagsAndIsReadAgainOnceItDrains() async throws {
        let directory = InProcessBrokerTests.Directory()
        let server = try InProcessBrokerTests.server(directory)
        let (subscriberChannel, _) = try await InProcessBrokerTests.connected(server, id: 1, after: "SUB lag 1\r\n")
        let (publisherChannel, publisher) = try await InProcessBrokerTests.connected(server, id: 2, after: "")
        try await publisherChannel.writeInbound(ByteBuffer(string: "PUB lag 1\r\na\r\n"))
        #expect(try await !Self.stalled(publisherChannel, publisher))
        // Over its high water mark (half of max_pending): the publisher's next read delivers, then pauses.
        try await Self.setWritable(subscriberChannel, false)
        try await publisherChannel.writeInbound(ByteBuffer(string: "PUB lag 1\r\nb\r\n"))
        try await subscriberChannel.testingEventLoop.submit {}.get()
        #expect(try await Self.stalled(publisherChannel, publisher))
        // Drained: read again.
        try await Self.setWritable(subscriberChannel, true)
        try await publisherChannel.testingEventLoop.submit {}.get()
        #expect(try await !Self.stalled(publisherChannel, publisher))
        // A subscriber that does not drain holds its publisher for 100 ms at the longest.
        try await Self.setWritable(subscriberChannel, false)
        try await publisherChannel.writeInbound(ByteBuffer(string: "PUB lag 1\r\nc\r\n"))
        #expect(try await Self.stalled(publisherChannel, publisher))
        await publisherChannel.testingEventLoop.advanceTime(by: .milliseconds(99))
        #expect(try await Self.stalled(publisherChannel, publisher))
        await publisherChannel.testingEventLoop.advanceTime(by: .milliseconds(1))
        #expect(try await !Self.stalled(publisherChannel, publisher))
        // Every message reached the subscriber, which was not cut off.
        let received = try await InProcessBrokerTests.outbound(subscriberChannel)
        #expect(received == "MSG lag 1 1\r\na\r\nMSG lag 1 1\r\nb\r\nMSG lag 1 1\r\nc\r\n")
        _ = try? await subscriberChannel.finish()
        _ = try? await publisherChannel.finish()
    }
}
