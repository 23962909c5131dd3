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
                // The line is read in place: its fields are found on the raw bytes and only those kept become
                // strings (LMSG is the hot path of a leaf link).
                guard let (parsed, consumed) = try WireFraming.controlLine(in: buffer, maxControlLine: maxControlLine, {
                    line throws(ProtocolError) in try parseControl(line)
                }) else { return nil }
                buffer.moveReaderIndex(forwardBy: consumed)
                if let operation = parsed { return operation }
            case .payload(let subject, let reply, let queues, let headerSize, let totalSize):
                guard let (headers, payload) = try WireFraming.payload(from: &buffer, headerSize: headerSize, totalSize: totalSize) else { return nil }
                state = .controlLine
                return .message(LeafMessage(subject: subject, reply: reply, queues: queues, headers: headers, payload: payload))
            }
        }
    }

    /// One control line: an operation, or nil for an empty line or a message waiting for its payload.
    private mutating func parseControl(_ line: UnsafeRawBufferPointer) throws(ProtocolError) -> LeafOperation? {
        // Up to 16 fields, as byte ranges of the line (queue names beyond that are not a line nats-server sends).
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(6)
        var i = 0
        while i < line.count {
            while i < line.count && (line[i] == 0x20 || line[i] == 0x09) { i += 1 }
            let start = i
            while i < line.count && line[i] != 0x20 && line[i] != 0x09 { i += 1 }
            if i > start { ranges.append(start..<i) }
            if ranges.count == 1 && !Self.takesFields(line, ranges[0]) { break }
        }
        guard let verb = ranges.first else { return nil }
        func text(_ k: Int) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: line[ranges[k]]), as: UTF8.self) }
        func rest() -> String { String(decoding: UnsafeRawBufferPointer(rebasing: line[verb.upperBound...]), as: UTF8.self).trimmingSpaces() }
        func describe() -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: line[verb.upperBound...]), as: UTF8.self).trimmingSpaces()
        }
        let arguments = ranges.count - 1
        switch Self.verb(line, verb) {
        case nil: throw .unknownOperation
        case .ping: return .ping
        case .pong: return .pong
        case .ok: return .ok
        case .err:
            var message = rest()
            if message.count >= 2, message.hasPrefix("'"), message.hasSuffix("'") { message = String(message.dropFirst().dropLast()) }
            return .error(message)
        case .info: return .info(rest())
        case .connect:
            let json = rest()
            guard !json.isEmpty else { throw .malformedArguments("CONNECT without options") }
            return .connect(ByteBuffer(string: json))
        case .subscribe:
            switch arguments {
            case 1: return .subscribe(LeafInterestKey(subject: text(1)), weight: 1)
            case 3:
                guard let weight = Self.size(line, ranges[3]) else { throw .malformedArguments("LS+ \(describe())") }
                return .subscribe(LeafInterestKey(subject: text(1), queue: text(2)), weight: weight)
            default: throw .malformedArguments("LS+ \(describe())")
            }
        case .unsubscribe:
            switch arguments {
            case 1: return .unsubscribe(LeafInterestKey(subject: text(1)))
            case 2: return .unsubscribe(LeafInterestKey(subject: text(1), queue: text(2)))
            default: throw .malformedArguments("LS- \(describe())")
            }
        case .message, .headerMessage:
            let hasHeaders = Self.verb(line, verb) == .headerMessage
            let sizes = hasHeaders ? 2 : 1
            func malformed() -> ProtocolError { .malformedArguments("\(hasHeaders ? "HMSG" : "LMSG") \(describe())") }
            guard arguments >= 1 + sizes else { throw malformed() }
            var reply: String?
            var queues: [String] = []
            switch arguments - sizes {
            case 1: break
            case 2: reply = text(2)
            default:
                let indicator = ranges[2]
                guard indicator.count == 1 else { throw malformed() }
                let last = ranges.count - sizes
                switch line[indicator.lowerBound] {
                case UInt8(ascii: "+"):
                    reply = text(3)
                    queues = (4..<last).map(text)
                case UInt8(ascii: "|"): queues = (3..<last).map(text)
                default: throw malformed()
                }
            }
            guard let total = Self.size(line, ranges[ranges.count - 1]) else { throw malformed() }
            var headerSize: Int?
            if hasHeaders {
                guard let size = Self.size(line, ranges[ranges.count - 2]), size <= total else { throw malformed() }
                headerSize = size
            }
            if total > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: text(1), reply: reply, queues: queues, headerSize: headerSize, totalSize: total)
            return nil
        }
    }

    private enum Verb { case ping, pong, ok, err, info, connect, subscribe, unsubscribe, message, headerMessage }

    /// Recognises the verb (case-insensitive), without allocating.
    private static func verb(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Verb? {
        @inline(__always) func upper(_ b: UInt8) -> UInt8 { (b >= 97 && b <= 122) ? b - 32 : b }
        func equals(_ word: StaticString) -> Bool {
            guard range.count == word.utf8CodeUnitCount else { return false }
            for j in 0..<word.utf8CodeUnitCount where upper(line[range.lowerBound + j]) != word.utf8Start[j] { return false }
            return true
        }
        switch range.count {
        case 3: return equals("LS+") ? .subscribe : equals("LS-") ? .unsubscribe : equals("+OK") ? .ok : nil
        case 4:
            return equals("LMSG") ? .message : equals("HMSG") ? .headerMessage : equals("PING") ? .ping : equals("PONG") ? .pong
                : equals("INFO") ? .info : equals("-ERR") ? .err : nil
        case 7: return equals("CONNECT") ? .connect : nil
        default: return nil
        }
    }

    /// Whether the words after this verb are fields (INFO, CONNECT and -ERR carry free text).
    private static func takesFields(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        switch verb(line, range) {
        case .info, .connect, .err: return false
        default: return true
        }
    }

    /// A decimal size of at most 18 digits.
    private static func size(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for j in range {
            let b = line[j]
            guard b >= 48 && b <= 57 else { return nil }
            value = value * 10 + Int(b - 48)
        }
        return value
    }
}
