#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Platform
import StreamStore

/// What JetStream does at start, once delivery is possible: report the stream directories it cannot serve,
/// restore each stream's consumers and report what its first open found, then, for a store of more streams
/// than are kept open (Specs/StoreLayout.md, "Open streams"), restore the streams deferred at start on a
/// thread of their own while clients are served (a client's use of one restores it first).
extension JetStreamService {
    /// `owner`: how the log names the account (" of account A", or "" for the global account).
    func start(owner: String) {
        for damaged in streams.damaged {
            logger.error("stream \(damaged.name)\(owner) not served: \(damaged.reason) (left as it is at \(damaged.path))")
        }
        streams.restore = { [unowned self] stream in self.restore(stream, owner: owner) }
        adviseDamaged(streams.damaged)
        let all = streams.allUnrestored
        let deferred = all.filter { ($0.store as? OnDemandFileStream)?.isDeferred ?? false }
        let later = Set(deferred.map { ObjectIdentifier($0) })
        for stream in all where !later.contains(ObjectIdentifier(stream)) { _ = streams.stream(named: stream.config.name) }
        // Mirrors and sources are fed from now on (their streams opened now, deferred or not).
        for stream in all where stream.config.hasMirror || stream.config.hasSources {
            if let opened = streams.stream(named: stream.config.name) { startSourcing(opened) }
        }
        guard !deferred.isEmpty else { return }
        logger.info("JetStream\(owner): \(deferred.count) streams open on first use or in the background")
        DetachedThread.start(name: "strata-warm-up", stackSize: 1 << 20) { [weak self] in
            for stream in deferred {
                guard let self, !self.stopping else { return }
                (stream.store as? OnDemandFileStream)?.waitForRoom()
                _ = self.streams.stream(named: stream.config.name)
            }
        }
    }

    /// Restores one stream's consumers and reports what its first open found: the log, and an advisory.
    private func restore(_ stream: StreamManager.Managed, owner: String) {
        if let file = stream.store as? OnDemandFileStream {
            if file.isReadOnly { logger.error("stream \(stream.config.name)\(owner) \(JetStreamService.servedReadOnly)") }
            if !file.recovery.isClean {
                let level: Logger.Level = file.recovery.damagedRegions.isEmpty ? .warning : .error
                logger.log(level: level, "stream \(stream.config.name)\(owner) recovered: \(file.recovery)")
            }
        }
        restoreConsumers(of: stream)
        adviseDamage(of: stream)
    }
}
