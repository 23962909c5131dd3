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

    public init(maxControlLine: Int = 4096, maxPayload: Int = 1 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// The next complete operation at the front of `buffer` (consuming it), or nil when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(ProtocolError) -> ClientOperation? {
        while true {
            switch state {
            case .controlLine:
                let found = buffer.withUnsafeReadableBytes { raw -> Int? in
                    guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, raw.count) else { return nil }
                    return base.distance(to: UnsafeRawPointer(hit))
                }
                guard let length = found else {
                    if buffer.readableBytes > maxControlLine { throw .maximumControlLineExceeded }
                    return nil
                }
                if length > maxControlLine { throw .maximumControlLineExceeded }
                var line = buffer.readSlice(length: length + 1)!
                var end = length
                if end > 0 && line.getInteger(at: line.readerIndex + end - 1, as: UInt8.self) == UInt8(ascii: "\r") { end -= 1 }
                line.moveWriterIndex(to: line.readerIndex + end)
                if let operation = try parseControl(line) { return operation }
            case .payload(let subject, let reply, let headerSize, let totalSize):
                guard buffer.readableBytes >= totalSize + 2 else { return nil }
                let headers = headerSize.map { buffer.readSlice(length: $0)! }
                let payload = buffer.readSlice(length: totalSize - (headerSize ?? 0))!
                let cr = buffer.readInteger(as: UInt8.self), lf = buffer.readInteger(as: UInt8.self)
                guard cr == UInt8(ascii: "\r"), lf == UInt8(ascii: "\n") else { throw .unknownOperation }
                state = .controlLine
                return .publish(Publish(subject: subject, reply: reply, headers: headers, payload: payload))
            }
        }
    }

    private enum Verb { case pub, hpub, sub, unsub, ping, pong, connect, info, ok, err }

    /// Recognises the verb at the start of `bytes` (case-insensitive), without allocating.
    private func verb(_ bytes: ByteBufferView.SubSequence) -> Verb? {
        @inline(__always) func upper(_ b: UInt8) -> UInt8 { (b >= 97 && b <= 122) ? b - 32 : b }
        func equals(_ word: StaticString) -> Bool {
            guard bytes.count == word.utf8CodeUnitCount else { return false }
            var i = bytes.startIndex
            for j in 0..<word.utf8CodeUnitCount {
                if upper(bytes[i]) != word.utf8Start[j] { return false }
                i += 1
            }
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

    /// Parses one control line (without its line end). Returns nil for an empty line or when the operation
    /// continues with a payload.
    private mutating func parseControl(_ line: ByteBuffer) throws(ProtocolError) -> ClientOperation? {
        let bytes = line.readableBytesView
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return nil }
        let verbEnd = bytes[first...].firstIndex(where: isSpace) ?? bytes.endIndex
        guard let verb = verb(bytes[first..<verbEnd]) else { throw .unknownOperation }
        let rest = bytes[verbEnd...]
        switch verb {
        case .ping: return .ping
        case .pong: return .pong
        case .ok: return .ok
        case .err: return .error(String(decoding: rest, as: UTF8.self).trimmingSpaces())
        case .info: return nil
        case .connect:
            guard let start = rest.firstIndex(where: { !isSpace($0) }) else { throw .malformedArguments("CONNECT without options") }
            return .connect(line.getSlice(at: start, length: rest.endIndex - start)!)
        case .pub, .hpub, .sub, .unsub:
            var ranges: [Range<Int>] = []
            ranges.reserveCapacity(4)
            var i = rest.startIndex
            while i < rest.endIndex {
                while i < rest.endIndex && isSpace(rest[i]) { i += 1 }
                let start = i
                while i < rest.endIndex && !isSpace(rest[i]) { i += 1 }
                if i > start { ranges.append(start..<i) }
            }
            if ranges.isEmpty { throw .unknownOperation }
            return try parseArguments(verb: verb, ranges, in: rest)
        }
    }

    private func integer(_ bytes: ByteBufferView.SubSequence) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for b in bytes {
            guard b >= 48 && b <= 57 else { return nil }
            value = value * 10 + Int(b - 48)
        }
        return value
    }

    private mutating func parseArguments(verb: Verb, _ ranges: [Range<Int>], in bytes: ByteBufferView.SubSequence) throws(ProtocolError) -> ClientOperation? {
        func text(_ i: Int) -> String { String(decoding: bytes[ranges[i]], as: UTF8.self) }
        func describe() -> String { ranges.indices.map(text).joined(separator: " ") }
        switch verb {
        case .pub:
            guard ranges.count == 2 || ranges.count == 3, let size = integer(bytes[ranges[ranges.count - 1]]) else {
                throw .malformedArguments("PUB \(describe())")
            }
            if size > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: text(0), reply: ranges.count == 3 ? text(1) : nil, headerSize: nil, totalSize: size)
            return nil
        case .hpub:
            guard ranges.count == 3 || ranges.count == 4, let headerSize = integer(bytes[ranges[ranges.count - 2]]),
                  let total = integer(bytes[ranges[ranges.count - 1]]), total >= headerSize else {
                throw .malformedArguments("HPUB \(describe())")
            }
            if total > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: text(0), reply: ranges.count == 4 ? text(1) : nil, headerSize: headerSize, totalSize: total)
            return nil
        case .sub:
            guard ranges.count == 2 || ranges.count == 3 else { throw .malformedArguments("SUB \(describe())") }
            return .subscribe(subject: text(0), queue: ranges.count == 3 ? text(1) : nil, sid: text(ranges.count - 1))
        default:  // UNSUB
            guard ranges.count == 1 || ranges.count == 2 else { throw .malformedArguments("UNSUB \(describe())") }
            var max: Int?
            if ranges.count == 2 {
                guard let value = integer(bytes[ranges[1]]) else { throw .malformedArguments("UNSUB max '\(text(1))'") }
                max = value
            }
            return .unsubscribe(sid: text(0), max: max)
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
