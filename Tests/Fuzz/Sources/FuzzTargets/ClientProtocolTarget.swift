@testable import NATSProtocol
import NIOCore

/// The client protocol parser with the server's limits (1 MiB payloads, 4 KiB control lines), as a connection
/// drives it. Invariants:
/// - fed the input whole, or cut into pieces at points the input's last bytes choose, the parser returns the
///   same operations and then the same error (or none): a read boundary never changes what a client said;
/// - every operation it returns, written back in the protocol's canonical form, parses to itself.
enum ClientProtocolTarget {
    static func run(_ input: [UInt8]) { ProtocolFeed.check(input, parse: parse, encode: encode) }

    /// Up to eight cut points derived from the input (so that libFuzzer can steer them).
    static func cutPoints(_ input: [UInt8]) -> [Int] {
        guard input.count > 1 else { return [] }
        var state = UInt64(input.count)
        for byte in input.suffix(8) { state = state &* 0x100_0000_01B3 ^ UInt64(byte) }
        var cuts: [Int] = []
        for _ in 0..<Int(state % 9) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            cuts.append(Int((state >> 33) % UInt64(input.count)))
        }
        return cuts.sorted()
    }

    static func parse(_ pieces: [[UInt8]]) -> (operations: [ClientOperation], error: ProtocolError?) {
        var parser = ClientParser(maxControlLine: 4096, maxPayload: 1 << 20)
        return ProtocolFeed.parse(pieces) { buffer throws(ProtocolError) in try parser.next(from: &buffer) }
    }

    /// The canonical wire form of an operation a client sent.
    static func encode(_ operation: ClientOperation) -> [UInt8] {
        var text: [UInt8] = []
        func line(_ s: String) { text += Array(s.utf8) + [13, 10] }
        switch operation {
        case .connect(let json): text += Array("CONNECT ".utf8) + Array(json.readableBytesView) + [13, 10]
        case .publish(let p):
            let reply = p.reply.map { " \($0)" } ?? ""
            if let headers = p.headers {
                line("HPUB \(p.subject)\(reply) \(headers.readableBytes) \(headers.readableBytes + p.payload.readableBytes)")
                text += Array(headers.readableBytesView)
            } else {
                line("PUB \(p.subject)\(reply) \(p.payload.readableBytes)")
            }
            text += Array(p.payload.readableBytesView) + [13, 10]
        case .subscribe(let subject, let queue, let sid): line("SUB \(subject)\(queue.map { " \($0)" } ?? "") \(sid)")
        case .unsubscribe(let sid, let max): line("UNSUB \(sid)\(max.map { " \($0)" } ?? "")")
        case .ping: line("PING")
        case .pong: line("PONG")
        case .ok: line("+OK")
        case .error(let text): line("-ERR \(text)")
        }
        return text
    }
}
