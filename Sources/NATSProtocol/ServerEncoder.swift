import NIOCore

/// Writes server operations (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`) into a buffer.
public enum ServerEncoder {
    public static func info(_ json: String, into buffer: inout ByteBuffer) {
        buffer.writeString("INFO ")
        buffer.writeString(json)
        buffer.writeString(" \r\n")
    }

    /// `MSG subject sid [reply] size\r\npayload\r\n`, or `HMSG … headerSize totalSize` when `headers` is given.
    public static func message(subject: String, sid: String, reply: String?, headers: ByteBuffer?, payload: ByteBuffer,
                               into buffer: inout ByteBuffer) {
        let headerSize = headers?.readableBytes ?? 0
        buffer.reserveCapacity(minimumWritableBytes: subject.utf8.count + sid.utf8.count + (reply?.utf8.count ?? 0) + headerSize + payload.readableBytes + 40)
        buffer.writeString(headers == nil ? "MSG " : "HMSG ")
        buffer.writeString(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(sid)
        buffer.writeInteger(UInt8(ascii: " "))
        if let reply {
            buffer.writeString(reply)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        if var headers {
            buffer.writeString(String(headerSize))
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(String(headerSize + payload.readableBytes))
            buffer.writeStaticString("\r\n")
            buffer.writeBuffer(&headers)
        } else {
            buffer.writeString(String(payload.readableBytes))
            buffer.writeStaticString("\r\n")
        }
        var body = payload
        buffer.writeBuffer(&body)
        buffer.writeStaticString("\r\n")
    }

    public static func ping(into buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }
    public static func pong(into buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }
    public static func ok(into buffer: inout ByteBuffer) { buffer.writeStaticString("+OK\r\n") }
    public static func error(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeString("-ERR '\(text)'\r\n")
    }
}
