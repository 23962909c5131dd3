import NIOCore
import Testing
@testable import NATSProtocol

/// The leaf-node protocol's forms, as nats-server 2.9.10 writes them (taken from a trace of a 2.9.10 hub and
/// leaf: `LMSG foo.x + r1 q 2`, `HMSG bar 18 20`, `LS+ foo.* q 1`).
@Suite struct LeafParserTests {
    static func parse(_ chunks: [String], parser: inout LeafParser) throws -> [LeafOperation] {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        var operations: [LeafOperation] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let operation = try parser.next(from: &buffer) { operations.append(operation) }
            buffer.discardReadBytes()
        }
        return operations
    }

    static let stream = "INFO {\"server_id\":\"N1\",\"leafnode_urls\":[\"h:7422\"]} \r\nLS+ foo\r\nLS+ foo.* q 3\r\nLS- foo\r\nLS- foo.* q\r\n"
        + "LMSG a 2\r\nhi\r\nLMSG a r 2\r\nhi\r\nLMSG a + r q1 q2 2\r\nhi\r\nLMSG a | q1 2\r\nhi\r\n"
        + "HMSG h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG h rr 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG h | qq 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        + "PING\r\nPONG\r\n-ERR 'Loop detected'\r\n+OK\r\n"

    static func expected() -> [LeafOperation] {
        let a = ByteBufferAllocator()
        let hi = a.buffer(string: "hi"), header = a.buffer(string: "NATS/1.0\r\n\r\n")
        return [
            .info("{\"server_id\":\"N1\",\"leafnode_urls\":[\"h:7422\"]}"),
            .subscribe(LeafInterestKey(subject: "foo"), weight: 1),
            .subscribe(LeafInterestKey(subject: "foo.*", queue: "q"), weight: 3),
            .unsubscribe(LeafInterestKey(subject: "foo")),
            .unsubscribe(LeafInterestKey(subject: "foo.*", queue: "q")),
            .message(LeafMessage(subject: "a", reply: nil, headers: nil, payload: hi)),
            .message(LeafMessage(subject: "a", reply: "r", headers: nil, payload: hi)),
            .message(LeafMessage(subject: "a", reply: "r", queues: ["q1", "q2"], headers: nil, payload: hi)),
            .message(LeafMessage(subject: "a", reply: nil, queues: ["q1"], headers: nil, payload: hi)),
            .message(LeafMessage(subject: "h", reply: nil, headers: header, payload: hi)),
            .message(LeafMessage(subject: "h", reply: "rr", headers: header, payload: hi)),
            .message(LeafMessage(subject: "h", reply: nil, queues: ["qq"], headers: header, payload: hi)),
            .ping, .pong, .error("Loop detected"), .ok,
        ]
    }

    @Test func everyFormInOneRead() throws {
        var parser = LeafParser()
        #expect(try Self.parse([Self.stream], parser: &parser) == Self.expected())
    }

    @Test func everyFormSplitAtEveryByte() throws {
        var parser = LeafParser()
        #expect(try Self.parse(Self.stream.map { String($0) }, parser: &parser) == Self.expected())
    }

    @Test func encoderWritesWhatTheParserReads() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        let a = ByteBufferAllocator()
        let messages = [
            LeafMessage(subject: "s", reply: nil, headers: nil, payload: a.buffer(string: "x")),
            LeafMessage(subject: "s", reply: "r", headers: nil, payload: a.buffer(string: "")),
            LeafMessage(subject: "s", reply: "r", queues: ["a", "b"], headers: a.buffer(string: "NATS/1.0\r\nk: v\r\n\r\n"), payload: a.buffer(string: "yz")),
            LeafMessage(subject: "s", reply: nil, queues: ["a"], headers: nil, payload: a.buffer(string: "q")),
        ]
        for m in messages {
            LeafEncoder.message(subject: m.subject, reply: m.reply, queues: m.queues, headers: m.headers, payload: m.payload, into: &buffer)
        }
        LeafEncoder.subscribe(LeafInterestKey(subject: "x.>", queue: "g"), weight: 2, into: &buffer)
        LeafEncoder.subscribe(LeafInterestKey(subject: "x.>"), weight: 5, into: &buffer)
        LeafEncoder.unsubscribe(LeafInterestKey(subject: "x.>", queue: "g"), into: &buffer)
        #expect(buffer.getString(at: buffer.readerIndex, length: 16) == "LMSG s 1\r\nx\r\nLMS")
        var parser = LeafParser()
        var operations: [LeafOperation] = []
        while let operation = try parser.next(from: &buffer) { operations.append(operation) }
        #expect(operations == messages.map { .message($0) } + [
            .subscribe(LeafInterestKey(subject: "x.>", queue: "g"), weight: 2),
            .subscribe(LeafInterestKey(subject: "x.>"), weight: 1),  // (plain interest has no weight on the wire)
            .unsubscribe(LeafInterestKey(subject: "x.>", queue: "g")),
        ])
    }

    @Test(arguments: ["LMSG a\r\n", "LMSG a b c 2\r\n", "LMSG a x2\r\n", "HMSG h 14 12\r\n", "HMSG h 1\r\n",
                      "LS+ a q\r\n", "LS+ a q -1\r\n", "LS- a b c\r\n", "LS+\r\n", "CONNECT\r\n"])
    func malformedArgumentsAreRefused(_ line: String) {
        var parser = LeafParser()
        #expect(throws: ProtocolError.self) { _ = try Self.parse([line], parser: &parser) }
    }

    @Test func unknownVerbsAndOversizeAreRefused() {
        var parser = LeafParser()
        #expect(throws: ProtocolError.unknownOperation) { _ = try Self.parse(["MSG a 1 2\r\n"], parser: &parser) }
        var small = LeafParser(maxControlLine: 16, maxPayload: 4)
        #expect(throws: ProtocolError.maximumControlLineExceeded) { _ = try Self.parse([String(repeating: "x", count: 40)], parser: &small) }
        var tiny = LeafParser(maxControlLine: 64, maxPayload: 4)
        #expect(throws: ProtocolError.maximumPayloadViolation) { _ = try Self.parse(["LMSG a 5\r\n"], parser: &tiny) }
        var bad = LeafParser()
        #expect(throws: ProtocolError.unknownOperation) { _ = try Self.parse(["LMSG a 2\r\nhiXX"], parser: &bad) }
    }

    @Test func hubInfoAndConnect() throws {
        let info = try #require(LeafHubInfo.decode("""
            {"server_id":"NA","server_name":"hub","headers":true,"auth_required":true,"client_id":6,"nonce":"n0","info_on_connect":true,"leafnode_urls":["127.0.0.1:17422"]}
            """))
        #expect(info.isLeafPort && info.infoOnConnect && !info.connectInfo && info.nonce == "n0" && info.serverName == "hub")
        #expect(LeafHubInfo.decode("{\"server_id\":\"NA\",\"client_id\":3}")?.isLeafPort == false)  // a client port
        #expect(LeafHubInfo.decode("not json") == nil)
        var connect = LeafConnect(version: "2.9.10", serverID: "NX", name: "edge")
        connect.domain = "edge"
        connect.jetStream = true
        connect.user = "u"
        connect.pass = "p"
        #expect(connect.json() == #"{"domain":"edge","headers":true,"jetstream":true,"name":"edge","pass":"p","server_id":"NX","tls_required":false,"user":"u","version":"2.9.10"}"#)
    }
}
