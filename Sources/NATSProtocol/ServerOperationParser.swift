#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// What a NATS server sends a client, parsed: the other direction of ``ClientParser``, for Strata's own
/// client (the `strata` tool's online commands). Pure: bytes in, operations out, no I/O.
public enum ServerOperation: Equatable, Sendable {
    case info(String)
    case message(subject: String, sid: String, reply: String?, headers: [UInt8]?, payload: [UInt8])
    case ping
    case pong
    case ok
    case error(String)
}

/// Incremental parser of a server's byte stream: feed bytes as they arrive, take whole operations out.
public struct ServerOperationParser: Sendable {
    private var buffer: [UInt8] = []
    public let maxControlLine: Int

    public init(maxControlLine: Int = 64 << 10) { self.maxControlLine = maxControlLine }

    /// A server sent something this parser cannot read.
    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }

    /// The next whole operation, or nil until more bytes arrive.
    public mutating func next() throws(Malformed) -> ServerOperation? {
        guard let lineEnd = Self.crlf(in: buffer) else {
            if buffer.count > maxControlLine { throw Malformed(description: "control line longer than \(maxControlLine) bytes") }
            return nil
        }
        let line = String(decoding: buffer[..<lineEnd], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let verb = fields.first?.uppercased() else { buffer.removeFirst(lineEnd + 2); return try next() }
        switch verb {
        case "INFO":
            buffer.removeFirst(lineEnd + 2)
            return .info(String(line.dropFirst(4)).trimmingWhitespace())
        case "PING": buffer.removeFirst(lineEnd + 2); return .ping
        case "PONG": buffer.removeFirst(lineEnd + 2); return .pong
        case "+OK": buffer.removeFirst(lineEnd + 2); return .ok
        case "-ERR":
            buffer.removeFirst(lineEnd + 2)
            var text = String(line.dropFirst(4)).trimmingWhitespace()
            if text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
            return .error(text)
        case "MSG", "HMSG":
            let hasHeaders = verb == "HMSG"
            // MSG <subject> <sid> [reply] <size>; HMSG <subject> <sid> [reply] <header size> <total size>
            let counts = hasHeaders ? (4, 5) : (3, 4)
            guard fields.count == counts.0 + 1 || fields.count == counts.1 + 1 else {
                throw Malformed(description: "\(verb) with \(fields.count - 1) arguments")
            }
            let hasReply = fields.count == counts.1 + 1
            guard let total = Int(fields.last!), total >= 0 else { throw Malformed(description: "\(verb) size \(fields.last!)") }
            var headerSize = 0
            if hasHeaders {
                guard let size = Int(fields[fields.count - 2]), size >= 0, size <= total else {
                    throw Malformed(description: "HMSG header size \(fields[fields.count - 2])")
                }
                headerSize = size
            }
            let start = lineEnd + 2
            guard buffer.count >= start + total + 2 else { return nil }
            guard buffer[start + total] == 13, buffer[start + total + 1] == 10 else { throw Malformed(description: "\(verb) payload not followed by CRLF") }
            let headers = hasHeaders ? Array(buffer[start..<(start + headerSize)]) : nil
            let payload = Array(buffer[(start + headerSize)..<(start + total)])
            buffer.removeFirst(start + total + 2)
            return .message(subject: fields[1], sid: fields[2], reply: hasReply ? fields[3] : nil, headers: headers, payload: payload)
        default:
            throw Malformed(description: "unknown operation \(verb)")
        }
    }

    static func crlf(in bytes: [UInt8]) -> Int? {
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}
