#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import NIOCore

/// The framing every NATS text protocol shares (client, leaf node): a control line ended by LF (CRLF on
/// the wire, a bare LF accepted as nats-server does), then for messages a payload of a stated size and
/// CRLF. Pure.
enum WireFraming {
    /// Hands `parse` the first control line at the front of `buffer`, in place and without its line end
    /// (offsets in it are offsets from the buffer's reader index); returns what `parse` made and how many
    /// bytes the line took, or nil when no whole line has arrived yet. What `parse` throws is thrown.
    @inline(__always)
    static func controlLine<Parsed>(in buffer: ByteBuffer, maxControlLine: Int,
                                    _ parse: (UnsafeRawBufferPointer) throws(ProtocolError) -> Parsed) throws(ProtocolError) -> (parsed: Parsed, consumed: Int)? {
        var failure: ProtocolError?
        let found: (Parsed, Int)? = buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, raw.count) else { return nil }
            let newline = base.distance(to: UnsafeRawPointer(hit))
            if newline > maxControlLine { failure = .maximumControlLineExceeded; return nil }
            let end = newline > 0 && raw[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
            do throws(ProtocolError) {
                return (try parse(UnsafeRawBufferPointer(rebasing: raw[0..<end])), newline + 1)
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        guard let found else {
            if buffer.readableBytes > maxControlLine { throw .maximumControlLineExceeded }
            return nil
        }
        return found
    }

    /// Takes a message's header block and payload (`totalSize` bytes, the first `headerSize` of them headers)
    /// and the CRLF after them off the front of `buffer`; nil until they have all arrived. Anything but CRLF
    /// after the payload is `unknownOperation`, as nats-server has it.
    @inline(__always)
    static func payload(from buffer: inout ByteBuffer, headerSize: Int?, totalSize: Int) throws(ProtocolError) -> (headers: ByteBuffer?, payload: ByteBuffer)? {
        guard buffer.readableBytes >= totalSize + 2 else { return nil }
        let headers = headerSize.map { buffer.readSlice(length: $0)! }
        let payload = buffer.readSlice(length: totalSize - (headerSize ?? 0))!
        let cr = buffer.readInteger(as: UInt8.self), lf = buffer.readInteger(as: UInt8.self)
        guard cr == UInt8(ascii: "\r"), lf == UInt8(ascii: "\n") else { throw .unknownOperation }
        return (headers, payload)
    }
}
