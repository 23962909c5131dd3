import NIOCore

/// Writes server operations (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`) into a buffer.
public enum ServerEncoder {
    public static func info(_ json: String, into buffer: inout ByteBuffer) {
        buffer.writeString("INFO ")
        buffer.writeString(json)
        buffer.writeString(" \r\n")
    }

    /// `MSG subject sid [reply] size\r\npayload\r\n`, or `HMSG … headerSize totalSize` when `headers` is given.
    /// The whole message is written with one capacity check and direct byte copies (the hot path of
    /// fan-out): each of the buffer's own writes checks its storage again.
    public static func message(subject: String, sid: String, reply: String?, headers: ByteBuffer?, payload: ByteBuffer,
                               into buffer: inout ByteBuffer) {
        let headerSize = headers?.readableBytes ?? 0
        let total = headerSize + payload.readableBytes
        var subject = subject, sid = sid, reply = reply
        let capacity = subject.utf8.count + sid.utf8.count + (reply?.utf8.count ?? 0) + 48 + total + 2
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
            var at = 0
            @inline(__always) func put(_ byte: UInt8) { out[at] = byte; at += 1 }
            @inline(__always) func put(bytes: UnsafeRawBufferPointer) {
                guard !bytes.isEmpty else { return }
                UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bytes.count)]).copyMemory(from: bytes)
                at += bytes.count
            }
            @inline(__always) func put(_ text: inout String) {
                text.withUTF8 { put(bytes: UnsafeRawBufferPointer($0)) }
            }
            @inline(__always) func put(number: Int) {
                var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
                var n = number, count = 0
                withUnsafeMutableBytes(of: &digits) { d in
                    repeat { d[count] = UInt8(48 + n % 10); n /= 10; count += 1 } while n > 0
                    for i in 0..<count { out[at + i] = d[count - 1 - i] }
                }
                at += count
            }
            if headers != nil { put(UInt8(ascii: "H")) }
            put(UInt8(ascii: "M")); put(UInt8(ascii: "S")); put(UInt8(ascii: "G")); put(UInt8(ascii: " "))
            put(&subject); put(UInt8(ascii: " "))
            put(&sid); put(UInt8(ascii: " "))
            if reply != nil { put(&reply!); put(UInt8(ascii: " ")) }
            if headers != nil { put(number: headerSize); put(UInt8(ascii: " ")) }
            put(number: total)
            put(UInt8(ascii: "\r")); put(UInt8(ascii: "\n"))
            headers?.withUnsafeReadableBytes { put(bytes: $0) }
            payload.withUnsafeReadableBytes { put(bytes: $0) }
            put(UInt8(ascii: "\r")); put(UInt8(ascii: "\n"))
            return at
        }
    }

    /// The header block of nats-server 2.9's no-responders status (`HMSG <reply> <sid> 16 16`).
    public static let noRespondersStatus = ByteBuffer(string: "NATS/1.0 503\r\n\r\n")

    public static func ping(into buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }
    public static func pong(into buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }
    public static func ok(into buffer: inout ByteBuffer) { buffer.writeStaticString("+OK\r\n") }
    public static func error(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeString("-ERR '\(text)'\r\n")
    }
}
