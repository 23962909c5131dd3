/// Backpressure on one connection's stream publishes: how many bytes it has handed to stores that are not
/// yet stored and acknowledged, and whether the connection must stop reading (pure; the connection
/// applies the decisions by turning its socket's reads off and on, and TCP's window pushes back on the
/// client). A publisher that never waits for its acks therefore holds at most about `limit` bytes in the
/// server, plus one read's worth; a stream whose writer queue is over `streamQueueLimit` pauses every
/// connection that publishes to it until that connection's own publishes are stored.
struct PublishWindow: Equatable {
    /// Bytes in flight at which reading stops; it resumes at half of it.
    var limit: Int
    /// Bytes queued for one stream's writer at which its publishers pause.
    var streamQueueLimit: Int
    private(set) var inFlight = 0
    private(set) var paused = false

    init(limit: Int = 4 << 20, streamQueueLimit: Int = 8 << 20) {
        self.limit = limit
        self.streamQueueLimit = streamQueueLimit
    }

    /// `bytes` more were handed to stores whose writer queues now hold `queued` bytes at most. Returns
    /// true when the connection must stop reading now.
    mutating func handed(_ bytes: Int, queued: Int) -> Bool {
        inFlight += bytes
        guard !paused, inFlight > 0, inFlight > limit || queued > streamQueueLimit else { return false }
        paused = true
        return true
    }

    /// `bytes` of earlier publishes were stored (or refused) and acknowledged. Returns true when the
    /// connection may read again.
    mutating func completed(_ bytes: Int) -> Bool {
        inFlight = max(0, inFlight - bytes)
        guard paused, inFlight <= limit / 2 else { return false }
        paused = false
        return true
    }
}
