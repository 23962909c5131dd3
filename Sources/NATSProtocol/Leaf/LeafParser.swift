#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import NIOCore

/// Parses the leaf-node protocol from a byte stream, with no I/O: feed what arrived, call ``next(from:)``
/// until it returns nil (more bytes needed). Argument forms follow nats-server 2.9.10
/// (`processLeafMsgArgs`, `processLeafHeaderMsgArgs`, `processLeafSub`):
///
/// - `LMSG subject [reply] size`, `LMSG subject + reply queue… size`, `LMSG subject | queue… size`
/// - `HMSG subject [reply] headerSize totalSize`, with `+ reply queue…` or `| queue…` as for LMSG
/// - `LS+ subject`, `LS+ subject queue weight`, `LS- subject [queue]`
///
/// After an error the connection is to be closed.
public struct LeafParser: Sendable {
    public var maxControlLine: Int
    public var maxPayload: Int

    private enum State: Sendable {
        case controlLine
        case payload(subject: String, reply: String?, queues: [String], headerSize: Int?, totalSize: Int)
    }

    private var state = State.controlLine

    public init(maxControlLine: Int = 4096, maxPayload: Int = 1 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// The next complete operation at the front of `buffer` (consuming it), or nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(ProtocolError) -> LeafOperation? {
        while true {
            switch state {
            case .controlLine:
                let found: (line: String, consumed: Int)? = buffer.withUnsafeReadableBytes { raw in
                    guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, raw.count) else { return nil }
                    let newline = base.distance(to: UnsafeRawPointer(hit))
                    let end = newline > 0 && raw[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
                    return (String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<end]), as: UTF8.self), newline + 1)
                }
                guard let found else {
                    if buffer.readableBytes > maxControlLine { throw .maximumControlLineExceeded }
                    return nil
                }
                if found.consumed - 1 > maxControlLine { throw .maximumControlLineExceeded }
                buffer.moveReaderIndex(forwardBy: found.consumed)
                if let operation = try parseControl(found.line) { return operation }
            case .payload(let subject, let reply, let queues, let headerSize, let totalSize):
                guard buffer.readableBytes >= totalSize + 2 else { return nil }
                let headers = headerSize.map { buffer.readSlice(length: $0)! }
                let payload = buffer.readSlice(length: totalSize - (headerSize ?? 0))!
                let cr = buffer.readInteger(as: UInt8.self), lf = buffer.readInteger(as: UInt8.self)
                guard cr == UInt8(ascii: "\r"), lf == UInt8(ascii: "\n") else { throw .unknownOperation }
                state = .controlLine
                return .message(LeafMessage(subject: subject, reply: reply, queues: queues, headers: headers, payload: payload))
            }
        }
    }

    /// One control line: an operation, or nil for an empty line or a message waiting for its payload.
    private mutating func parseControl(_ line: String) throws(ProtocolError) -> LeafOperation? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let verb = fields.first?.uppercased() else { return nil }
        let arguments = fields.dropFirst().map(String.init)
        func rest() -> String { String(line[fields[0].endIndex...]).trimmingSpaces() }
        switch verb {
        case "PING": return .ping
        case "PONG": return .pong
        case "+OK": return .ok
        case "-ERR":
            var text = rest()
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") { text = String(text.dropFirst().dropLast()) }
            return .error(text)
        case "INFO": return .info(rest())
        case "CONNECT":
            let json = rest()
            guard !json.isEmpty else { throw .malformedArguments("CONNECT without options") }
            return .connect(ByteBuffer(string: json))
        case "LS+":
            switch arguments.count {
            case 1: return .subscribe(LeafInterestKey(subject: arguments[0]), weight: 1)
            case 3:
                guard let weight = Int(arguments[2]), weight >= 0 else { throw .malformedArguments("LS+ \(arguments.joined(separator: " "))") }
                return .subscribe(LeafInterestKey(subject: arguments[0], queue: arguments[1]), weight: weight)
            default: throw .malformedArguments("LS+ \(arguments.joined(separator: " "))")
            }
        case "LS-":
            switch arguments.count {
            case 1: return .unsubscribe(LeafInterestKey(subject: arguments[0]))
            case 2: return .unsubscribe(LeafInterestKey(subject: arguments[0], queue: arguments[1]))
            default: throw .malformedArguments("LS- \(arguments.joined(separator: " "))")
            }
        case "LMSG", "HMSG":
            let hasHeaders = verb == "HMSG"
            let sizes = hasHeaders ? 2 : 1
            func malformed() -> ProtocolError { .malformedArguments("\(verb) \(arguments.joined(separator: " "))") }
            guard arguments.count >= 1 + sizes else { throw malformed() }
            var reply: String?
            var queues: [String] = []
            switch arguments.count - sizes {
            case 1: break
            case 2: reply = arguments[1]
            default:
                switch arguments[1] {
                case "+":
                    reply = arguments[2]
                    queues = Array(arguments[3..<(arguments.count - sizes)])
                case "|": queues = Array(arguments[2..<(arguments.count - sizes)])
                default: throw malformed()
                }
            }
            guard let total = Self.size(arguments[arguments.count - 1]) else { throw malformed() }
            var headerSize: Int?
            if hasHeaders {
                guard let size = Self.size(arguments[arguments.count - 2]), size <= total else { throw malformed() }
                headerSize = size
            }
            if total > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: arguments[0], reply: reply, queues: queues, headerSize: headerSize, totalSize: total)
            return nil
        default:
            throw .unknownOperation
        }
    }

    private static func size(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }
}
