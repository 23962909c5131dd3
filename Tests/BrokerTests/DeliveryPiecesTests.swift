import NATSProtocol
import NIOCore
import NIOEmbedded
import Testing
@testable import Broker

/// What a connection writes to its socket when one read or one server step delivers a lot: pieces of about
/// `ClientConnection.flushBytes`, in order, nothing lost or repeated.
@Suite struct DeliveryPiecesTests {
    /// Each write the connection made, in order (after the INFO and the CONNECT's answers are taken).
    static func writes(_ channel: NIOAsyncTestingChannel) async throws -> [ByteBuffer] {
        var writes: [ByteBuffer] = []
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { writes.append(buffer) }
        return writes
    }

    static func expectPieces(_ writes: [ByteBuffer], equal expected: String, largestMessage: Int) {
        #expect(writes.count >= expected.utf8.count / ClientConnection.flushBytes)
        for write in writes { #expect(write.readableBytes <= ClientConnection.flushBytes + largestMessage) }
        #expect(writes.map { String(buffer: $0) }.joined() == expected)
    }

    @Test func oneReadOfManyPublishesReachesASubscriberInPieces() async throws {
        let directory = InProcessBrokerTests.Directory()
        let server = try InProcessBrokerTests.server(directory)
        let (channel, _) = try await InProcessBrokerTests.connected(server, id: 1, after: "SUB d.* 1\r\n")
        var read = "", expected = ""
        for i in 0..<3000 {
            let payload = String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: 100 + i % 7)
            read += "PUB d.\(i) \(payload.utf8.count)\r\n\(payload)\r\n"
            expected += "MSG d.\(i) 1 \(payload.utf8.count)\r\n\(payload)\r\n"
        }
        try await channel.writeInbound(ByteBuffer(string: read))
        Self.expectPieces(try await Self.writes(channel), equal: expected, largestMessage: 128)
        _ = try? await channel.finish()
    }

    @Test func oneServerStepOfManyMessagesReachesItsClientInPieces() async throws {
        let directory = InProcessBrokerTests.Directory()
        let server = try InProcessBrokerTests.server(directory)
        let (channel, _) = try await InProcessBrokerTests.connected(server, id: 1, after: "SUB inbox 9\r\n")
        var messages: [OutboundMessage] = [], expected = ""
        for i in 0..<2000 {
            let payload = String(repeating: "m", count: 200 + i % 11)
            messages.append(OutboundMessage(to: "inbox", subject: "orders.\(i)", payload: ByteBuffer(string: payload)))
            expected += "MSG orders.\(i) 9 \(payload.utf8.count)\r\n\(payload)\r\n"
        }
        // As a consumer's step does: from a thread of the server's own, handed over to the connection's loop.
        server.routeInternal(messages)
        try await channel.testingEventLoop.submit {}.get()
        Self.expectPieces(try await Self.writes(channel), equal: expected, largestMessage: 240)
        _ = try? await channel.finish()
    }
}
