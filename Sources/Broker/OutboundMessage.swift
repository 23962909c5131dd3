import NIOCore

/// A message the server itself sends (a JetStream delivery, status, advisory or reply): routed by `to`,
/// shown to subscribers with `subject` on its MSG/HMSG line.
struct OutboundMessage: Sendable {
    var to: String
    var subject: String
    var reply: String?
    var headers: ByteBuffer?
    var payload: ByteBuffer
    /// Sent once to a subject unlikely to be seen again (a reply inbox): its routing is not cached.
    var oneOff: Bool

    init(to: String, subject: String? = nil, reply: String? = nil, headers: ByteBuffer? = nil, payload: ByteBuffer = ByteBuffer(),
         oneOff: Bool = false) {
        self.to = to
        self.oneOff = oneOff
        self.subject = subject ?? to
        self.reply = reply
        self.headers = headers
        self.payload = payload
    }

    /// About the bytes of its `MSG`/`HMSG` frame to one subscription (a sid and numbers of up to 40 bytes).
    var encodedSizeEstimate: Int {
        48 &+ subject.utf8.count &+ (reply?.utf8.count ?? 0) &+ (headers?.readableBytes ?? 0) &+ payload.readableBytes
    }

    /// A status message (`NATS/1.0 <code> <description>`, no payload), as JetStream sends to inboxes.
    static func status(to: String, code: Int, description: String, extraHeaders: String = "", reply: String? = nil) -> OutboundMessage {
        OutboundMessage(to: to, reply: reply, headers: ByteBuffer(string: "NATS/1.0 \(code) \(description)\r\n\(extraHeaders)\r\n"))
    }
}
