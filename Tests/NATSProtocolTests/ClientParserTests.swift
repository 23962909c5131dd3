import NIOCore
import Testing
@testable import NATSProtocol

@Suite struct ClientParserTests {
    static let stream = "CONNECT {\"verbose\":false}\r\nPUB a.b reply.1 5\r\nhello\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        + "SUB a.* q 7\r\nSUB x 8\r\nUNSUB 7\r\nUNSUB 8 3\r\nPING\r\nPONG\r\nPUB empty 0\r\n\r\n+OK\r\n-ERR 'x'\r\nping\r\n"

    static func expected() -> [ClientOperation] {
        let allocator = ByteBufferAllocator()
        return [
            .connect(allocator.buffer(string: "{\"verbose\":false}")),
            .publish(Publish(subject: "a.b", reply: "reply.1", headers: nil, payload: allocator.buffer(string: "hello"))),
            .publish(Publish(subject: "h", reply: nil, headers: allocator.buffer(string: "NATS/1.0\r\n\r\n"), payload: allocator.buffer(string: "hi"))),
            .subscribe(subject: "a.*", queue: "q", sid: "7"),
            .subscribe(subject: "x", queue: nil, sid: "8"),
            .unsubscribe(sid: "7", max: nil),
            .unsubscribe(sid: "8", max: 3),
            .ping, .pong,
            .publish(Publish(subject: "empty", reply: nil, headers: nil, payload: allocator.buffer(string: ""))),
            .ok, .error("'x'"), .ping,
        ]
    }

    /// Feeds `chunks` one after another, as reads would arrive, collecting every operation.
    static func parse(_ chunks: [String], parser: inout ClientParser) throws -> [ClientOperation] {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        var operations: [ClientOperation] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let operation = try parser.next(from: &buffer) { operations.append(operation) }
            buffer.discardReadBytes()
        }
        return operations
    }

    @Test func pipelinedInOneRead() throws {
        var parser = ClientParser()
        #expect(try Self.parse([Self.stream], parser: &parser) == Self.expected())
    }

    /// Runs of publishes to one subject, subjects of one length that differ in a byte, and bytes that are not
    /// UTF-8: each publish has its own subject (the parser reuses the last one's string when the bytes agree).
    @Test func eachPublishHasItsOwnSubject() throws {
        let subjects: [[UInt8]] = [Array("ab".utf8), Array("ab".utf8), Array("ac".utf8), Array("ab".utf8), [0x61, 0xFF],
                                   [0x61, 0xFE], [0x61, 0xFE], Array("a.b.c".utf8), Array("ab".utf8)]
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        for subject in subjects {
            buffer.writeString("PUB ")
            buffer.writeBytes(subject)
            buffer.writeString(" 1\r\nx\r\n")
        }
        var parser = ClientParser()
        var parsed: [String] = []
        while case .publish(let publish)? = try parser.next(from: &buffer) { parsed.append(publish.subject) }
        #expect(parsed == subjects.map { String(decoding: $0, as: UTF8.self) })
    }

    @Test func splitAtEveryByte() throws {
        let bytes = Array(Self.stream.utf8)
        for cut in 1..<bytes.count {
            var parser = ClientParser()
            let chunks = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            #expect(try Self.parse(chunks, parser: &parser) == Self.expected(), "cut at \(cut)")
        }
        var parser = ClientParser()
        #expect(try Self.parse(bytes.map { String(UnicodeScalar($0)) }, parser: &parser) == Self.expected())
    }

    @Test(arguments: [
        ("FOO\r\n", ProtocolError.unknownOperation),
        ("PUB\r\n", .unknownOperation),
        ("UNSUB\r\n", .unknownOperation),
        ("PUB a x\r\n", .malformedArguments("PUB a x")),
        ("PUB a b c d\r\n", .malformedArguments("PUB a b c d")),
        ("SUB a\r\n", .malformedArguments("SUB a")),
        ("UNSUB 1 x\r\n", .malformedArguments("UNSUB max 'x'")),
        ("HPUB a 10 5\r\n", .malformedArguments("HPUB a 10 5")),
        ("PUB a 2000000\r\n", .maximumPayloadViolation),
        ("HPUB a 1 2000000\r\n", .maximumPayloadViolation),
        ("PUB a 3\r\nabcdef\r\n", .unknownOperation),
        ("PUB " + String(repeating: "a", count: 5000) + " 1\r\n", .maximumControlLineExceeded),
        (String(repeating: "a", count: 5000), .maximumControlLineExceeded),
    ])
    func errors(input: String, expected: ProtocolError) {
        var parser = ClientParser()
        #expect(throws: expected) { _ = try Self.parse([input], parser: &parser) }
    }

    @Test func referenceErrorTexts() {
        #expect(ProtocolError.unknownOperation.errorText == "Unknown Protocol Operation")
        #expect(ProtocolError.maximumControlLineExceeded.errorText == "maximum control line exceeded")
        #expect(ProtocolError.maximumPayloadViolation.errorText == "Maximum Payload Violation")
        #expect(ProtocolError.malformedArguments("x").errorText == nil)
    }

    @Test func payloadsAreSlicesNotCopies() throws {
        var parser = ClientParser()
        var buffer = ByteBufferAllocator().buffer(string: "PUB s 3\r\nabc\r\n")
        guard case .publish(let publish)? = try parser.next(from: &buffer) else { Issue.record("no publish"); return }
        buffer.withUnsafeReadableBytes { whole in
            publish.payload.withUnsafeReadableBytes { payload in
                #expect(payload.baseAddress! >= whole.baseAddress! - 14 && payload.baseAddress! < whole.baseAddress! + 1)
            }
        }
    }

    @Test func connectOptionsDefaultsFollowTheReference() throws {
        let empty = try #require(ConnectOptions.decode(ByteBufferAllocator().buffer(string: "{}")))
        #expect(empty.verbose && empty.pedantic && empty.echo && !empty.headers)
        let full = try #require(ConnectOptions.decode(ByteBufferAllocator().buffer(string:
            #"{"verbose":false,"pedantic":false,"echo":false,"headers":true,"auth_token":"t","user":"u","pass":"p","name":"n","protocol":1}"#)))
        #expect(!full.verbose && !full.pedantic && !full.echo && full.headers && full.authToken == "t" && full.user == "u" && full.pass == "p")
        #expect(ConnectOptions.decode(ByteBufferAllocator().buffer(string: "{bad")) == nil)
    }

    /// Go's encoding/json rules, as nats-server 2.9.10 applies them to CONNECT (checked against it over a socket:
    /// `{"verbose":true,"verbose":false}` gets no +OK, `{"Verbose":true}` does, `{"protocol":1.0}` is closed).
    @Test func connectOptionsDecodeAsGoDoes() throws {
        func decode(_ text: String) -> ConnectOptions? { ConnectOptions.decode(ByteBufferAllocator().buffer(string: text)) }
        #expect(try #require(decode(#"{"verbose":true,"verbose":false}"#)).verbose == false)
        #expect(try #require(decode(#"{"verbose":false,"verbose":true}"#)).verbose == true)
        #expect(try #require(decode(#"{"Verbose":false,"ECHO":false,"User":"u"}"#)) == { var o = ConnectOptions(); o.verbose = false; o.echo = false; o.user = "u"; return o }())
        #expect(try #require(decode(#"{"verbose":null,"name":null,"unknown":[1,{"x":2}]}"#)) == ConnectOptions())
        #expect(decode(#"{"protocol":1.0}"#) == nil)
        #expect(decode(#"{"verbose":"yes"}"#) == nil)
        #expect(decode(#"{"user":5}"#) == nil)
        #expect(decode(#"[{"verbose":false}]"#) == nil)
        #expect(decode(#"{"echo":false,}"#) == nil)
    }

    @Test func encodesServerOperations() {
        let allocator = ByteBufferAllocator()
        var out = allocator.buffer(capacity: 0)
        ServerEncoder.message(subject: "a", sid: "1", reply: nil, headers: nil, payload: allocator.buffer(string: "xy"), into: &out)
        ServerEncoder.message(subject: "a", sid: "2", reply: "r", headers: allocator.buffer(string: "NATS/1.0\r\n\r\n"),
                              payload: allocator.buffer(string: "xy"), into: &out)
        ServerEncoder.ping(into: &out)
        ServerEncoder.pong(into: &out)
        ServerEncoder.ok(into: &out)
        ServerEncoder.error("Stale Connection", into: &out)
        #expect(String(buffer: out) == "MSG a 1 2\r\nxy\r\nHMSG a 2 r 12 14\r\nNATS/1.0\r\n\r\nxy\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'Stale Connection'\r\n")
    }
}

@Suite struct ServerOperationParserTests {
    @Test func parsesWhatAServerSendsInPieces() throws {
        var parser = ServerOperationParser()
        let stream = Array("INFO {\"server_id\":\"X\"}\r\n+OK\r\nMSG a.b 1 5\r\nhello\r\nMSG a.b 2 _INBOX.r 0\r\n\r\nHMSG h 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n-ERR 'Authorization Violation'\r\nPONG\r\n".utf8)
        var operations: [ServerOperation] = []
        for byte in stream {  // one byte at a time: nothing is returned before it is whole
            parser.feed([byte])
            while let operation = try parser.next() { operations.append(operation) }
        }
        #expect(operations == [
            .info("{\"server_id\":\"X\"}"), .ok,
            .message(subject: "a.b", sid: "1", reply: nil, headers: nil, payload: Array("hello".utf8)),
            .message(subject: "a.b", sid: "2", reply: "_INBOX.r", headers: nil, payload: []),
            .message(subject: "h", sid: "3", reply: nil, headers: Array("NATS/1.0\r\n\r\n".utf8), payload: Array("hi".utf8)),
            .ping, .error("Authorization Violation"), .pong,
        ])
    }

    @Test func refusesWhatIsNotTheProtocol() {
        for text in ["BOGUS\r\n", "MSG a 1 x\r\n", "MSG a 1 2\r\nabcd\r\n", "HMSG a 1 9 3\r\n"] {
            var parser = ServerOperationParser()
            parser.feed(Array(text.utf8))
            #expect(throws: ServerOperationParser.Malformed.self) { _ = try parser.next() }
        }
        var long = ServerOperationParser(maxControlLine: 8)
        long.feed(Array("INFO 0123456789".utf8))
        #expect(throws: ServerOperationParser.Malformed.self) { _ = try long.next() }
    }
}
