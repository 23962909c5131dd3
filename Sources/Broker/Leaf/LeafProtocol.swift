/// Fixed values of the leaf-node protocol, as nats-server 2.9.10 has them (`server/leafnode.go`,
/// `server/const.go`).
enum LeafProtocol {
    /// The prefix of the subject each account declares to detect a loop: the same subject coming back
    /// over a leaf connection means this server reached itself.
    static let loopDetectionPrefix = "$LDS."
    /// How long a connection that found a loop waits before it tries again.
    static let reconnectDelayAfterLoop = 30.0
    /// How long a new connection waits for the hub's INFO.
    static let infoWait = 1.0
    /// How long the connect exchange (CONNECT to the hub's `connect_info` INFO) may take.
    static let connectProcessTimeout = 2.0
    /// The version sent in CONNECT (the reference's, so that a hub's `min_version` treats it alike).
    static let version = "2.9.10"
}
