#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import NIOCore
import StreamStore

/// The broker's side of monitoring: one snapshot per request, gathered without touching the message path
/// (connections report on their own loops; stores report their published state).
extension BrokerServer {
    /// `httpPort`/`httpsPort`: the port the request came in on (the other from the configuration).
    /// `consumerDetails`: gather every consumer's figures too (`/jsz?consumers=1`, `/metrics`).
    func monitoringSnapshot(httpPort: Int?, httpsPort: Int?, requestCounts: [String: Int], consumerDetails: Bool = false,
                            on loop: EventLoop) -> EventLoopFuture<ServerSnapshot> {
        let configuration = self.configuration
        // The connections report on their loops; the rest (store states, consumer snapshots, disk use by
        // `stat`) is gathered on the blocking pool, off every event loop.
        // (`loop` is the monitoring connection's, perhaps of another group: the answer completes on it)
        let leaves = acceptedLeafConnections + leafSolicitors.compactMap(\.current)
        let leafFutures = leaves.compactMap { leaf in
            leaf.channel.map { $0.eventLoop.submit { leaf.isEstablished ? leaf.snapshot() : nil } }
        }
        let leafSnapshots = EventLoopFuture.whenAllComplete(leafFutures, on: loop).map { results in
            results.compactMap { try? $0.get() }.compactMap { $0 }
        }
        return connectionSnapshots().hop(to: loop).and(leafSnapshots).flatMap { gathered, leafNodes in self.blockingPool.runIfActive(eventLoop: loop) {
            let received = gathered.open.reduce(gathered.closedReceived) { $0 + $1.received }
            let sent = gathered.open.reduce(gathered.closedSent) { $0 + $1.sent }
            var subjects: [String] = []
            for connection in gathered.open { subjects += connection.subscriptions }
            let jetStream: [ServerSnapshot.JetStreamAccount]? = self.hasJetStream ? self.accounts.values.sorted { $0.name < $1.name }.compactMap { account in
                guard let service = account.jetStream else { return nil }
                // A stream deferred at start and not restored yet is counted as restoring, not opened for a figure
                // (a probe right after a start on 10,000 streams answers at once).
                let every = service.streams.allUnrestored
                let streams = every.filter(\.restoration.isDone)
                var memory: UInt64 = 0, storage: UInt64 = 0, messages: UInt64 = 0
                var details: [ServerSnapshot.StreamFigures] = []
                for stream in streams {
                    let state = stream.store.state
                    if stream.config.storage == .memory { memory += state.bytes } else { storage += state.bytes }
                    messages += state.messages
                    var figures = ServerSnapshot.StreamFigures(name: stream.config.name, messages: state.messages, bytes: state.bytes,
                                                               firstSequence: state.firstSequence, lastSequence: state.lastSequence,
                                                               consumers: stream.consumers.all.count)
                    figures.subjects = state.subjects
                    figures.maxBytes = stream.config.maxBytes
                    figures.maxMessages = stream.config.maxMsgs
                    figures.writeFailure = service.writeFailure(of: stream)
                    figures.unrestoredConsumers = stream.consumers.unrestoredNames
                    if consumerDetails {
                        figures.consumerDetails = stream.consumers.all.map { $0.figures() }.sorted { $0.name < $1.name }
                    }
                    if let file = stream.store as? OnDemandFileStream {
                        figures.write = file.writeFigures
                        figures.disk = file.diskUsage
                        figures.damagedRegionsAtStart = file.recovery.damagedRegions.count
                        figures.recordsLostAtStart = file.recovery.damagedRegions.reduce(0) { $0 + UInt64($1.lostSequences?.count ?? 0) }
                        figures.framesFoundDamagedByReads = file.framesFoundDamagedByReads.count
                    }
                    details.append(figures)
                }
                let api = service.apiCounts
                return ServerSnapshot.JetStreamAccount(name: account.name, streams: every.count,
                                                       consumers: streams.reduce(0) { $0 + $1.consumers.all.count },
                                                       messages: messages, memory: memory, storage: storage,
                                                       apiTotal: api.total, apiErrors: api.errors,
                                                       streamDetails: details.sorted { $0.name < $1.name },
                                                       restoring: every.count - streams.count)
            } : nil
            let damaged = self.accounts.values.flatMap { $0.jetStream?.streams.damaged.map(\.name) ?? [] }
            let usage = ProcessUsage.now(since: self.startedAt)
            return ServerSnapshot(serverID: self.serverID, serverName: self.serverName, configuration: configuration,
                                  httpHost: configuration.httpHost ?? configuration.host,
                                  httpPort: httpPort ?? configuration.httpPort ?? 0, httpsPort: httpsPort ?? configuration.httpsPort ?? 0,
                                  start: self.startedAt, now: Date(), configLoaded: self.configLoadedAt,
                                  connections: gathered.open, closedConnections: gathered.closed, totalConnections: gathered.total, received: received, sent: sent,
                                  slowConsumers: self.statistics.slowConsumers, subscriptions: self.statistics.subscriptions,
                                  subscriptionSubjects: subjects.sorted(), residentBytes: usage.residentBytes,
                                  cpuPercent: usage.cpuPercent, cores: ProcessInfo.processInfo.activeProcessorCount,
                                  jetStream: jetStream, jetStreamDamaged: damaged.sorted(), accounts: Array(self.accounts.keys),
                                  requestCounts: requestCounts, leafNodes: leafNodes)
        } }
    }
}

/// This process's resident memory and its CPU share since it started (as `ps -o pcpu` counts it, which is
/// what nats-server reports as `cpu`), from /proc.
enum ProcessUsage {
    static func now(since start: Date) -> (residentBytes: Int, cpuPercent: Double) {
        var resident = 0
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Int(fields[1]) { resident = pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        var cpu = 0.0
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            // Fields after the command name: state is the 3rd field, utime the 14th and stime the 15th.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                let elapsed = max(Date().timeIntervalSince(start), 0.001)
                cpu = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))) / elapsed * 100
            }
        }
        return (resident, cpu)
    }
}
