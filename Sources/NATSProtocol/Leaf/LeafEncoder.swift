import NIOCore

/// Writes leaf-node protocol operations into a buffer (the inverse of ``LeafParser``).
public enum LeafEncoder {
    public static func connect(_ json: String, into buffer: inout ByteBuffer) {
        buffer.writeString("CONNECT ")
        buffer.writeString(json)
        buffer.writeStaticString("\r\n")
    }

    /// `LS+ subject` or, for a queue group, `LS+ subject queue weight`.
    public static func subscribe(_ key: LeafInterestKey, weight: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("LS+ ")
        buffer.writeString(key.subject)
        if let queue = key.queue {
            buffer.writeString(" " + queue + " " + String(weight))
        }
        buffer.writeStaticString("\r\n")
    }

    /// `LS- subject [queue]`.
    public static func unsubscribe(_ key: LeafInterestKey, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("LS- ")
        buffer.writeString(key.description)
        buffer.writeStaticString("\r\n")
    }

    /// `LMSG`/`HMSG` with the forms ``LeafParser`` reads: `+ reply queue…` or `| queue…` when the
    /// message is for queue groups, else `[reply]`.
    public static func message(subject: String, reply: String?, queues: [String], headers: ByteBuffer?, payload: ByteBuffer,
                               into buffer: inout ByteBuffer) {
        let headerSize = headers?.readableBytes ?? 0
        let total = headerSize + payload.readableBytes
        var line = headers == nil ? "LMSG " : "HMSG "
        line += subject
        if queues.isEmpty {
            if let reply { line += " " + reply }
        } else {
            line += reply.map { " + " + $0 } ?? " |"
            for queue in queues { line += " " + queue }
        }
        if headers != nil { line += " " + String(headerSize) }
        line += " " + String(total) + "\r\n"
        buffer.reserveCapacity(minimumWritableBytes: line.utf8.count + total + 2)
        buffer.writeString(line)
        if var headers { buffer.writeBuffer(&headers) }
        var body = payload
        buffer.writeBuffer(&body)
        buffer.writeStaticString("\r\n")
    }
}
