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
    /// message is for queue groups, else `[reply]`. Written piece by piece into `buffer` (no line string is
    /// built: this is the hot path of a hub's forwarding).
    public static func message(subject: String, reply: String?, queues: [String], headers: ByteBuffer?, payload: ByteBuffer,
                               into buffer: inout ByteBuffer) {
        let headerSize = headers?.readableBytes ?? 0
        let total = headerSize + payload.readableBytes
        buffer.reserveCapacity(minimumWritableBytes: subject.utf8.count + (reply?.utf8.count ?? 0) + 48 + total)
        if headers == nil { buffer.writeStaticString("LMSG ") } else { buffer.writeStaticString("HMSG ") }
        buffer.writeString(subject)
        if queues.isEmpty {
            if let reply { buffer.writeStaticString(" "); buffer.writeString(reply) }
        } else {
            if let reply { buffer.writeStaticString(" + "); buffer.writeString(reply) } else { buffer.writeStaticString(" |") }
            for queue in queues { buffer.writeStaticString(" "); buffer.writeString(queue) }
        }
        if headers != nil { buffer.writeStaticString(" "); buffer.writeDecimal(UInt64(headerSize)) }
        buffer.writeStaticString(" ")
        buffer.writeDecimal(UInt64(total))
        buffer.writeStaticString("\r\n")
        if var headers { buffer.writeBuffer(&headers) }
        var body = payload
        buffer.writeBuffer(&body)
        buffer.writeStaticString("\r\n")
    }
}
