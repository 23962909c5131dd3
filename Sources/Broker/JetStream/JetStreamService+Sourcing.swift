import NATSProtocol
import NIOCore
import Platform
import StreamStore

/// The running ``StreamSourcing`` of each stream with a mirror or sources, by stream name. Thread-safe.
final class SourcingRegistry: @unchecked Sendable {
    private let lock = Lock()
    private var running: [String: StreamSourcing] = [:]

    subscript(name: String) -> StreamSourcing? { lock.withLock { running[name] } }

    /// Puts `sourcing` in place of the stream's current one, returned (to be stopped).
    func replace(_ name: String, with sourcing: StreamSourcing?) -> StreamSourcing? {
        lock.withLock {
            let old = running[name]
            running[name] = sourcing
            return old
        }
    }

    func removeAll() -> [StreamSourcing] {
        lock.withLock {
            defer { running.removeAll() }
            return Array(running.values)
        }
    }
}

/// Mirrors and sources: started with their stream (at start, create, and an update that changes its
/// sources), stopped with it; their messages stored through here.
extension JetStreamService {
    /// (Re)starts the feeding of `stream` when it has a mirror or sources; stops what fed it before.
    func startSourcing(_ stream: StreamManager.Managed) {
        var started: StreamSourcing?
        if let link = sourcingLink, stream.config.hasMirror || stream.config.hasSources, !stopping {
            started = StreamSourcing(stream: stream, service: self, link: link, logger: logger)
        }
        sourcing.replace(stream.config.name, with: started)?.stop()
        started?.start()
    }

    func stopSourcing(_ name: String) { sourcing.replace(name, with: nil)?.stop() }

    func stopAllSourcing() { for running in sourcing.removeAll() { running.stop() } }

    /// Stores one message a mirror or source took from its origin, then tells the stream's consumers (as a
    /// publish's store does, without a pub ack). The completion hops to `loop` (never run on the store's
    /// thread, which must not wait for the stream, nor inline in the caller); `completion` runs there.
    func storeSourced(_ request: AppendRequest, in stream: StreamManager.Managed, on loop: any EventLoop,
                      completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void) {
        let subject = request.subject
        stream.store.append(contentsOf: [request]) { results in
            guard !self.stopping else { return }  // (the server's loops may be gone: nothing waits for it)
            loop.execute {
                self.acknowledge(results, replies: [nil], subjects: [subject], in: stream)
                completion(results.first ?? .failure(.closed))
            }
        }
    }

    /// Stream info's `mirror` or `sources`, for a stream that has them.
    func sourcingInfo(_ stream: StreamManager.Managed) -> [String: Any] {
        guard stream.config.hasMirror || stream.config.hasSources else { return [:] }
        let entries = sourcing[stream.config.name]?.info() ?? []
        if stream.config.hasMirror { return entries.first.map { ["mirror": $0] } ?? [:] }
        return ["sources": entries]
    }
}
