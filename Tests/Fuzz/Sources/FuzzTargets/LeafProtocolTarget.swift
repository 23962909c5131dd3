@testable import NATSProtocol
import NIOCore

/// The leaf-node protocol parser with the server's limits (1 MiB payloads, 64 KiB control lines), as a leaf
/// connection drives it with what the other side sends. Invariants:
/// - fed the input whole, or cut into pieces at points the input's last bytes choose, the parser returns the
///   same operations and then the same error (or none);
/// - every operation it returns, written back with ``LeafEncoder`` (or as the line it came from, for INFO,
///   CONNECT and -ERR), parses to itself.
enum LeafProtocolTarget {
    static func run(_ input: [UInt8]) { ProtocolFeed.check(input, parse: parse, encode: encode) }

    static func parse(_ pieces: [[UInt8]]) -> (operations: [LeafOperation], error: ProtocolError?) {
        var parser = LeafParser(maxControlLine: 64 << 10, maxPayload: 1 << 20)
        return ProtocolFeed.parse(pieces) { buffer throws(ProtocolError) in try parser.next(from: &buffer) }
    }

    static func encode(_ operation: LeafOperation) -> [UInt8] {
        var buffer = ByteBuffer()
        switch operation {
        case .info(let json): buffer.writeString("INFO \(json)\r\n")
        case .connect(let json): LeafEncoder.connect(String(buffer: json), into: &buffer)
        case .subscribe(let key, let weight): LeafEncoder.subscribe(key, weight: weight, into: &buffer)
        case .unsubscribe(let key): LeafEncoder.unsubscribe(key, into: &buffer)
        case .message(let m):
            LeafEncoder.message(subject: m.subject, reply: m.reply, queues: m.queues, headers: m.headers, payload: m.payload, into: &buffer)
        case .ping: buffer.writeString("PING\r\n")
        case .pong: buffer.writeString("PONG\r\n")
        case .ok: buffer.writeString("+OK\r\n")
        case .error(let text): buffer.writeString("-ERR '\(text)'\r\n")
        }
        return Array(buffer.readableBytesView)
    }
}
