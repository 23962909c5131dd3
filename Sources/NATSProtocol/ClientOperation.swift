import NIOCore

/// One operation sent by a client, as parsed from the wire. Payloads and headers are slices of the read
/// buffer (not copied).
public enum ClientOperation: Equatable, Sendable {
    /// `CONNECT {json}`: the raw JSON, decoded by ``ConnectOptions/decode(_:)``.
    case connect(ByteBuffer)
    /// `PUB subject [reply] size` or `HPUB subject [reply] headerSize totalSize`.
    case publish(Publish)
    /// `SUB subject [queue] sid`.
    case subscribe(subject: String, queue: String?, sid: String)
    /// `UNSUB sid [max]`.
    case unsubscribe(sid: String, max: Int?)
    case ping
    case pong
    /// `+OK` / `-ERR` sent by a client: accepted and ignored, as the reference does.
    case ok
    case error(String)
}

/// A published message.
public struct Publish: Equatable, Sendable {
    public var subject: String
    public var reply: String?
    /// The header block (`NATS/1.0\r\n…\r\n\r\n`), nil for PUB.
    public var headers: ByteBuffer?
    public var payload: ByteBuffer

    public init(subject: String, reply: String?, headers: ByteBuffer?, payload: ByteBuffer) {
        self.subject = subject
        self.reply = reply
        self.headers = headers
        self.payload = payload
    }
}
