#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import NIOCore

/// Parses the client side of the NATS protocol from a byte stream, with no I/O and no clock.
///
/// Feed it whatever arrived (operations may be split at any byte or many may arrive in one read) and call
/// ``next(from:)`` until it returns nil (more bytes needed). Payloads are returned as slices of the buffer.
/// Errors carry what the reference server answers (``ProtocolError/errorText``); after an error the
/// connection is to be closed.
public struct ClientParser: Sendable {
    public var maxControlLine: Int
    public var maxPayload: Int

    private enum State: Sendable {
        case controlLine
        case payload(subject: String, reply: String?, headerSize: Int?, totalSize: Int)
    }

    private var state = State.controlLine
    /// The subject of the last PUB or HPUB: a publisher that sends to one subject again and again gets that
    /// string back rather than a new one decoded each time.
    private var lastSubject = ""

    public init(maxControlLine: Int = 4096, maxPayload: Int = 1 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// The next complete operation at the front of `buffer` (consuming it), or nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(ProtocolError) -> ClientOperation? {
        while true {
            switch state {
            case .controlLine:
                // Parse the line in place (no slices, no views): find its end, decode it from the raw bytes.
                guard let (parsed, consumed) = try WireFraming.controlLine(in: buffer, maxControlLine: maxControlLine, {
                    line throws(ProtocolError) in try parseControl(line)
                }) else { return nil }
                var connectJSON: ByteBuffer?
                if case .connect(let json) = parsed {
                    connectJSON = buffer.getSlice(at: buffer.readerIndex + json.lowerBound, length: json.count)
                }
                buffer.moveReaderIndex(forwardBy: consumed)
                switch consume parsed {
                case .operation(let operation): return operation
                case .connect: return .connect(connectJSON!)
                case .publish(let subject, let reply, let headerSize, let totalSize):
                    // The payload has nearly always arrived with its line: returned at once, without a
                    // round trip through the parser's state.
                    if let (headers, payload) = try WireFraming.payload(from: &buffer, headerSize: headerSize, totalSize: totalSize) {
                        return .publish(Publish(subject: subject, reply: reply, headers: headers, payload: payload))
                    }
                    state = .payload(subject: subject, reply: reply, headerSize: headerSize, totalSize: totalSize)
                    return nil
                case .none: continue
                }
            case .payload(let subject, let reply, let headerSize, let totalSize):
                guard let (headers, payload) = try WireFraming.payload(from: &buffer, headerSize: headerSize, totalSize: totalSize) else { return nil }
                state = .controlLine
                return .publish(Publish(subject: subject, reply: reply, headers: headers, payload: payload))
            }
        }
    }

    /// What one control line amounts to.
    private enum Control {
        case operation(ClientOperation)
        /// CONNECT, with where its JSON lies in the line.
        case connect(Range<Int>)
        /// PUB or HPUB: its payload (with headers) follows the line.
        case publish(subject: String, reply: String?, headerSize: Int?, totalSize: Int)
        /// Nothing to return (an empty or ignored line).
        case none
    }

    private enum Verb { case pub, hpub, sub, unsub, ping, pong, connect, info, ok, err }

    /// Recognises the verb in `bytes` (case-insensitive), without allocating.
    private static func verb(_ bytes: UnsafeRawBufferPointer) -> Verb? {
        @inline(__always) func upper(_ b: UInt8) -> UInt8 { (b >= 97 && b <= 122) ? b - 32 : b }
        func equals(_ word: StaticString) -> Bool {
            guard bytes.count == word.utf8CodeUnitCount else { return false }
            for j in 0..<word.utf8CodeUnitCount where upper(bytes[j]) != word.utf8Start[j] { return false }
            return true
        }
        switch bytes.count {
        case 3: return equals("PUB") ? .pub : equals("SUB") ? .sub : equals("+OK") ? .ok : nil
        case 4: return equals("HPUB") ? .hpub : equals("PING") ? .ping : equals("PONG") ? .pong : equals("INFO") ? .info : equals("-ERR") ? .err : nil
        case 5: return equals("UNSUB") ? .unsub : nil
        case 7: return equals("CONNECT") ? .connect : nil
        default: return nil
        }
    }

    /// Parses one control line (without its line end).
    private mutating func parseControl(_ line: UnsafeRawBufferPointer) throws(ProtocolError) -> Control {
        var i = 0
        while i < line.count && isSpace(line[i]) { i += 1 }
        if i == line.count { return .none }
        let verbStart = i
        while i < line.count && !isSpace(line[i]) { i += 1 }
        guard let verb = ClientParser.verb(UnsafeRawBufferPointer(rebasing: line[verbStart..<i])) else { throw .unknownOperation }
        switch verb {
        case .ping: return .operation(.ping)
        case .pong: return .operation(.pong)
        case .ok: return .operation(.ok)
        case .err:
            return .operation(.error(String(decoding: UnsafeRawBufferPointer(rebasing: line[i...]), as: UTF8.self).trimmingSpaces()))
        case .info: return .none
        case .connect:
            while i < line.count && isSpace(line[i]) { i += 1 }
            if i == line.count { throw .malformedArguments("CONNECT without options") }
            return .connect(i..<line.count)
        case .pub, .hpub, .sub, .unsub:
            // Up to 4 arguments, as ranges of the line.
            var ranges: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0, 0..<0)
            var count = 0
            while i < line.count {
                while i < line.count && isSpace(line[i]) { i += 1 }
                let start = i
                while i < line.count && !isSpace(line[i]) { i += 1 }
                if i > start {
                    switch count {
                    case 0: ranges.0 = start..<i
                    case 1: ranges.1 = start..<i
                    case 2: ranges.2 = start..<i
                    case 3: ranges.3 = start..<i
                    default: break
                    }
                    count += 1
                }
            }
            if count == 0 { throw .unknownOperation }
            func range(_ k: Int) -> Range<Int> { k == 0 ? ranges.0 : k == 1 ? ranges.1 : k == 2 ? ranges.2 : ranges.3 }
            func text(_ k: Int) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: line[range(k)]), as: UTF8.self) }
            func subject(_ k: Int) -> String {
                let bytes = UnsafeRawBufferPointer(rebasing: line[range(k)])
                let same = !bytes.isEmpty && lastSubject.utf8.withContiguousStorageIfAvailable {
                    $0.count == bytes.count && memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0
                } == true
                if !same { lastSubject = String(decoding: bytes, as: UTF8.self) }
                return lastSubject
            }
            func integer(_ k: Int) -> Int? {
                let r = range(k)
                guard !r.isEmpty, r.count <= 18 else { return nil }
                var value = 0
                for j in r {
                    let b = line[j]
                    guard b >= 48 && b <= 57 else { return nil }
                    value = value * 10 + Int(b - 48)
                }
                return value
            }
            func describe() -> String {
                String(decoding: UnsafeRawBufferPointer(rebasing: line[range(0).lowerBound..<range(min(count, 4) - 1).upperBound]), as: UTF8.self)
            }
            switch verb {
            case .pub:
                guard count == 2 || count == 3, let size = integer(count - 1) else { throw .malformedArguments("PUB \(describe())") }
                if size > maxPayload { throw .maximumPayloadViolation }
                return .publish(subject: subject(0), reply: count == 3 ? text(1) : nil, headerSize: nil, totalSize: size)
            case .hpub:
                guard count == 3 || count == 4, let headerSize = integer(count - 2), let total = integer(count - 1), total >= headerSize else {
                    throw .malformedArguments("HPUB \(describe())")
                }
                if total > maxPayload { throw .maximumPayloadViolation }
                return .publish(subject: subject(0), reply: count == 4 ? text(1) : nil, headerSize: headerSize, totalSize: total)
            case .sub:
                guard count == 2 || count == 3 else { throw .malformedArguments("SUB \(describe())") }
                return .operation(.subscribe(subject: text(0), queue: count == 3 ? text(1) : nil, sid: text(count - 1)))
            default:  // UNSUB
                guard count == 1 || count == 2 else { throw .malformedArguments("UNSUB \(describe())") }
                var max: Int?
                if count == 2 {
                    guard let value = integer(1) else { throw .malformedArguments("UNSUB max '\(text(1))'") }
                    max = value
                }
                return .operation(.unsubscribe(sid: text(0), max: max))
            }
        }
    }
}

@inline(__always) func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars.removeFirst() }
        while scalars.last == " " || scalars.last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
