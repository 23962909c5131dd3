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
                guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    if buffer.readableBytes > maxControlLine { throw .maximumControlLineExceeded }
                    return nil
                }
                let length = newline - buffer.readerIndex
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

    /// Parses one control line (without its line end). Returns nil for an empty line or when the operation
    /// continues with a payload.
    private mutating func parseControl(_ line: ByteBuffer) throws(ProtocolError) -> ClientOperation? {
        let bytes = line.readableBytesView
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return nil }
        let verbEnd = bytes[first...].firstIndex(where: isSpace) ?? bytes.endIndex
        let verb = uppercased(bytes[first..<verbEnd])
        let rest = bytes[verbEnd...]
        switch verb {
        case "PING": return .ping
        case "PONG": return .pong
        case "+OK": return .ok
        case "-ERR": return .error(String(decoding: rest, as: UTF8.self).trimmingSpaces())
        case "CONNECT":
            guard let start = rest.firstIndex(where: { !isSpace($0) }) else { throw .malformedArguments("CONNECT without options") }
            return .connect(line.getSlice(at: start, length: rest.endIndex - start)!)
        case "INFO":
            return nil
        case "PUB", "HPUB", "SUB", "UNSUB":
            let args = tokens(rest)
            if args.isEmpty { throw .unknownOperation }
            return try parseArguments(verb: verb, args)
        default:
            throw .unknownOperation
        }
    }

    private mutating func parseArguments(verb: String, _ args: [String]) throws(ProtocolError) -> ClientOperation? {
        switch verb {
        case "PUB":
            guard args.count == 2 || args.count == 3, let size = Int(args[args.count - 1]), size >= 0 else {
                throw .malformedArguments("PUB \(args.joined(separator: " "))")
            }
            if size > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: args[0], reply: args.count == 3 ? args[1] : nil, headerSize: nil, totalSize: size)
            return nil
        case "HPUB":
            guard args.count == 3 || args.count == 4, let headerSize = Int(args[args.count - 2]),
                  let total = Int(args[args.count - 1]), headerSize >= 0, total >= headerSize else {
                throw .malformedArguments("HPUB \(args.joined(separator: " "))")
            }
            if total > maxPayload { throw .maximumPayloadViolation }
            state = .payload(subject: args[0], reply: args.count == 4 ? args[1] : nil, headerSize: headerSize, totalSize: total)
            return nil
        case "SUB":
            guard args.count == 2 || args.count == 3 else { throw .malformedArguments("SUB \(args.joined(separator: " "))") }
            return .subscribe(subject: args[0], queue: args.count == 3 ? args[1] : nil, sid: args[args.count - 1])
        default:  // UNSUB
            guard args.count == 1 || args.count == 2 else { throw .malformedArguments("UNSUB \(args.joined(separator: " "))") }
            var max: Int?
            if args.count == 2 {
                guard let value = Int(args[1]) else { throw .malformedArguments("UNSUB max '\(args[1])'") }
                max = value
            }
            return .unsubscribe(sid: args[0], max: max)
        }
    }

    private func tokens(_ bytes: ByteBufferView.SubSequence) -> [String] {
        var result: [String] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            while i < bytes.endIndex && isSpace(bytes[i]) { i += 1 }
            let start = i
            while i < bytes.endIndex && !isSpace(bytes[i]) { i += 1 }
            if i > start { result.append(String(decoding: bytes[start..<i], as: UTF8.self)) }
        }
        return result
    }

    private func uppercased(_ bytes: ByteBufferView.SubSequence) -> String {
        String(decoding: bytes.map { ($0 >= 97 && $0 <= 122) ? $0 - 32 : $0 }, as: UTF8.self)
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
