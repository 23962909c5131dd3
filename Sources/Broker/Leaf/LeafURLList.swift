/// The URLs a leaf tries for one remote, in nats-server's order (`pickNextURL`, `doUpdateLNURLs`): the
/// one just used moves to the back when the next attempt starts; the hub's INFO replaces the list with
/// the URLs of its cluster it names, followed by the configured ones (which keep their credentials).
/// Pure.
struct LeafURLList: Equatable {
    /// As configured (shuffled once unless `no_randomize`).
    let configured: [LeafURL]
    private(set) var urls: [LeafURL]
    private(set) var current: LeafURL?

    init(_ configured: [LeafURL], randomize: Bool) {
        self.configured = randomize ? configured.shuffled() : configured
        self.urls = self.configured
    }

    /// The URL of the next attempt.
    mutating func next() -> LeafURL? {
        guard !urls.isEmpty else { return nil }
        if let current, urls.count > 1, urls[0] == current { urls.append(urls.removeFirst()) }
        current = urls[0]
        return current
    }

    /// Takes the hub's `leafnode_urls` (`host:port` each): they come first, without those already
    /// configured (compared by host and port), then the configured ones.
    mutating func learned(_ hostPorts: [String]) {
        var list: [LeafURL] = []
        for text in hostPorts {
            guard var url = LeafURL(parsing: text) else { continue }
            url.scheme = configured.first?.scheme ?? "nats-leaf"
            if configured.contains(where: { $0.host == url.host && $0.port == url.port }) { continue }
            if list.contains(url) { continue }
            list.append(url)
        }
        urls = list + configured
    }
}
