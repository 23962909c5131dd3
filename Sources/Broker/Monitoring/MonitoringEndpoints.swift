#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import StreamStore
import Subjects

/// What the monitoring endpoints report, gathered once per request: the server's identity and limits, every
/// open connection as its own loop saw it, totals, and each account's JetStream figures.
struct ServerSnapshot: Sendable {
    struct JetStreamAccount: Sendable {
        var name: String
        var streams: Int
        var consumers: Int
        var messages: UInt64
        var memory: UInt64
        var storage: UInt64
        var apiTotal: Int
        var apiErrors: Int
        var streamDetails: [StreamFigures]
        /// Streams deferred at start that are not restored yet (Specs/StoreLayout.md, "Open streams"): not in the
        /// figures above.
        var restoring = 0
    }

    /// One stream's figures: the reference's, and Strata's own (disk use, compression, what recovery found).
    struct StreamFigures: Sendable {
        var name: String
        var messages: UInt64
        var bytes: UInt64
        var firstSequence: UInt64
        var lastSequence: UInt64
        var consumers: Int
        /// nil for a memory stream.
        var disk: StreamDiskUsage?
        var damagedRegionsAtStart = 0
        var recordsLostAtStart: UInt64 = 0
        var framesFoundDamagedByReads = 0
        /// The stream's write failure since its last successful write (a full disk, a read-only file system, a
        /// failed sync), nil when its last write succeeded.
        var writeFailure: String?
        /// Consumers whose stored record did not decode at start (kept in the store, not served).
        var unrestoredConsumers: [String] = []
        var subjects: UInt64 = 0
        var maxBytes: Int64 = -1
        var maxMessages: Int64 = -1
        /// The write path's figures (nil for a memory stream).
        var write: WriteFigures?
        /// Filled for `/jsz?consumers=1` and `/metrics` only.
        var consumerDetails: [ConsumerHost.Figures] = []
    }

    var serverID: String
    var serverName: String
    var configuration: BrokerConfiguration
    var httpHost: String
    var httpPort: Int
    var httpsPort: Int = 0
    var start: Date
    var now: Date
    var configLoaded: Date
    var connections: [ConnectionSnapshot]
    /// The most recently closed connections, oldest first.
    var closedConnections: [ConnectionSnapshot] = []
    var totalConnections: UInt64
    var received: MessageCount
    var sent: MessageCount
    var slowConsumers: Int
    var subscriptions: Int
    var subscriptionSubjects: [String]
    var residentBytes: Int
    var cpuPercent: Double
    var cores: Int
    var jetStream: [JetStreamAccount]?
    var jetStreamDamaged: [String]
    var accounts: [String]
    var requestCounts: [String: Int]
    /// The leaf-node connections, both roles (`/leafz`, `/varz`'s `leafnodes`).
    var leafNodes: [LeafSnapshot] = []
}

/// One leaf-node connection as monitoring shows it (nats-server's `/leafz` entry).
struct LeafSnapshot: Sendable {
    var id: UInt64
    var name: String
    var isSpoke: Bool
    var account: String
    var ip: String
    var port: Int
    var received: MessageCount
    var sent: MessageCount
    /// The other side's interest held here (its `LS+`), as nats-server lists a leaf's subscriptions.
    var subscriptions: [String]
}

/// nats-server 2.9's monitoring endpoints, answered from a ``ServerSnapshot``. Pure: a path and its query
/// in, a status and a JSON body out. Field names and units are the reference's (durations in
/// nanoseconds where it uses them, times in RFC 3339); a bad query value is a 400 with the reference's
/// text, an unknown path a 404.
enum MonitoringEndpoints {
    static let paths = ["/varz", "/connz", "/subsz", "/jsz", "/accountz", "/healthz", "/metrics", "/leafz"]

    struct Response: Equatable {
        var status: Int
        var body: String
        /// nil: JSON for a body that is an object, plain text otherwise.
        var contentType: String? = nil
    }

    static func respond(path: String, query: [String: String], snapshot: ServerSnapshot) -> Response {
        do {
            switch path {
            case "/", "": return json(["varz": "/varz", "connz": "/connz", "subsz": "/subsz", "jsz": "/jsz", "accountz": "/accountz", "healthz": "/healthz",
                                       "leafz": "/leafz"])
            case "/varz": return json(varz(snapshot))
            case "/connz": return json(try connz(snapshot, query))
            case "/subsz", "/subscriptionsz": return json(try subsz(snapshot, query))
            case "/jsz": return json(try jsz(snapshot, query))
            case "/accountz": return json(accountz(snapshot))
            case "/leafz": return json(try leafz(snapshot, query))
            case "/healthz": return healthz(snapshot, query)
            case "/metrics": return Response(status: 200, body: PrometheusExposition.text(snapshot), contentType: "text/plain; version=0.0.4; charset=utf-8")
            default: return Response(status: 404, body: "404 page not found\n")
            }
        } catch let error as QueryError {
            return Response(status: 400, body: error.text)
        } catch {
            return Response(status: 500, body: "\(error)")
        }
    }

    struct QueryError: Error { var text: String }

    static func integer(_ query: [String: String], _ key: String, default value: Int) throws -> Int {
        guard let text = query[key], !text.isEmpty else { return value }
        guard let number = Int(text) else { throw QueryError(text: "Error decoding int for '\(key)': strconv.Atoi: parsing \"\(text)\": invalid syntax") }
        return number
    }

    static func flag(_ query: [String: String], _ key: String) throws -> Bool {
        guard let text = query[key], !text.isEmpty else { return false }
        switch text.lowercased() {
        case "1", "true", "t": return true
        case "0", "false", "f": return false
        case "detail": return true
        default: throw QueryError(text: "Error decoding boolean for '\(key)': strconv.ParseBool: parsing \"\(text)\": invalid syntax")
        }
    }

    static func time(_ date: Date) -> String { JetStreamService.time(Int64(date.timeIntervalSince1970 * 1e9)) }

    /// Go's `time.Duration.String()` rounded to seconds, as `/varz` `uptime` shows it (`1h2m3s`, `0s`).
    static func goDuration(_ seconds: Double) -> String {
        var rest = Int(seconds)
        let days = rest / 86400; rest %= 86400
        let hours = rest / 3600; rest %= 3600
        let minutes = rest / 60; rest %= 60
        var text = ""
        if days > 0 { text += "\(days)d" }
        if days > 0 || hours > 0 { text += "\(hours)h" }
        if days > 0 || hours > 0 || minutes > 0 { text += "\(minutes)m" }
        return text + "\(rest)s"
    }

    /// nats-server's `/leafz`: every leaf-node connection, `subs=1` with the interest it holds, `acc` for one
    /// account's.
    static func leafz(_ s: ServerSnapshot, _ query: [String: String]) throws -> [String: Any] {
        let subs = try flag(query, "subs")
        let account = query["acc"]
        let leaves = s.leafNodes.filter { leaf in account.map { leaf.account == $0 } ?? true }.sorted { $0.id < $1.id }
        return [
            "server_id": s.serverID, "now": time(s.now), "leafnodes": leaves.count,
            "leafs": leaves.map { leaf -> [String: Any] in
                var entry: [String: Any] = [
                    "name": leaf.name, "is_spoke": leaf.isSpoke, "account": leaf.account, "ip": leaf.ip, "port": leaf.port,
                    "in_msgs": leaf.received.messages, "out_msgs": leaf.sent.messages, "in_bytes": leaf.received.bytes,
                    "out_bytes": leaf.sent.bytes, "subscriptions": leaf.subscriptions.count,
                ]
                if subs { entry["subscriptions_list"] = leaf.subscriptions }
                return entry
            },
        ]
    }

    static func varz(_ s: ServerSnapshot) -> [String: Any] {
        let c = s.configuration
        var varz: [String: Any] = [
            "server_id": s.serverID, "server_name": s.serverName, "version": "2.9.10", "proto": 1,
            "host": c.host, "port": c.port, "max_connections": c.maxConnections,
            "ping_interval": Int64(c.pingInterval * 1e9), "ping_max": c.maxPingsOut,
            "http_host": s.httpHost, "http_port": s.httpPort, "http_base_path": "", "https_port": s.httpsPort,
            "auth_timeout": c.authTimeout, "max_control_line": c.maxControlLine, "max_payload": c.maxPayload,
            "max_pending": c.maxPending, "cluster": [String: Any](), "gateway": [String: Any](),
            "leaf": c.leafNodes.listen.map { listen -> [String: Any] in
                ["host": listen.host, "port": listen.port, "auth_timeout": c.leafNodes.authorization?.timeout ?? c.auth.timeout ?? 2, "tls_timeout": 2]
            } ?? [String: Any](),
            "mqtt": [String: Any](), "websocket": [String: Any](),
            "tls_timeout": c.tls?.timeout ?? 2, "write_deadline": Int64(c.writeDeadline * 1e9),
            "start": time(s.start), "now": time(s.now), "uptime": goDuration(s.now.timeIntervalSince(s.start)),
            "mem": s.residentBytes, "cores": s.cores, "cpu": (s.cpuPercent * 10).rounded() / 10,
            "connections": s.connections.count, "total_connections": s.totalConnections,
            "routes": 0, "remotes": 0, "leafnodes": s.leafNodes.count,
            "in_msgs": s.received.messages, "out_msgs": s.sent.messages, "in_bytes": s.received.bytes, "out_bytes": s.sent.bytes,
            "slow_consumers": s.slowConsumers, "subscriptions": s.subscriptions,
            "http_req_stats": s.requestCounts, "config_load_time": time(s.configLoaded),
            "x_implementation": "strata",
        ]
        if c.authRequired { varz["auth_required"] = true }
        if c.tls != nil {
            varz["tls_required"] = true
            if c.tls?.verifiesClients == true { varz["tls_verify"] = true }
        }
        if let jetStream = s.jetStream {
            let memory = jetStream.reduce(0) { $0 + $1.memory }, storage = jetStream.reduce(0) { $0 + $1.storage }
            var config: [String: Any] = ["max_memory": c.maxMemoryStore, "max_storage": c.maxFileStore, "store_dir": c.storeDirectory ?? ""]
            if let domain = c.jetStreamDomain { config["domain"] = domain }
            varz["jetstream"] = [
                "config": config,
                "stats": ["memory": memory, "storage": storage, "reserved_memory": 0, "reserved_storage": 0,
                          "accounts": jetStream.count, "ha_assets": 0,
                          "api": ["total": jetStream.reduce(0) { $0 + $1.apiTotal }, "errors": jetStream.reduce(0) { $0 + $1.apiErrors }]],
            ]
        } else {
            varz["jetstream"] = [String: Any]()
        }
        return varz
    }

    static func connz(_ s: ServerSnapshot, _ query: [String: String]) throws -> [String: Any] {
        let offset = max(0, try integer(query, "offset", default: 0))
        let limit = try integer(query, "limit", default: 1024)
        let subs = try flag(query, "subs")
        var connections = s.connections
        if let state = query["state"], !state.isEmpty {
            switch state.lowercased() {
            case "open": break
            case "any": connections += s.closedConnections
            case "closed": connections = s.closedConnections
            default: throw QueryError(text: "Error decoding connection state: unknown state \"\(state)\"")
            }
        }
        if let cid = query["cid"], !cid.isEmpty {
            guard let id = UInt64(cid) else { throw QueryError(text: "Error decoding uint for 'cid': strconv.ParseUint: parsing \"\(cid)\": invalid syntax") }
            connections = connections.filter { $0.id == id }
        }
        switch query["sort"] ?? "" {
        case "", "cid": connections.sort { $0.id < $1.id }
        case "start": connections.sort { $0.start < $1.start }
        case "subs": connections.sort { $0.subscriptions.count > $1.subscriptions.count }
        case "pending": connections.sort { $0.pendingBytes > $1.pendingBytes }
        case "msgs_to": connections.sort { $0.sent.messages > $1.sent.messages }
        case "msgs_from": connections.sort { $0.received.messages > $1.received.messages }
        case "bytes_to": connections.sort { $0.sent.bytes > $1.sent.bytes }
        case "bytes_from": connections.sort { $0.received.bytes > $1.received.bytes }
        case "last": connections.sort { $0.lastActivity > $1.lastActivity }
        case "idle": connections.sort { $0.lastActivity < $1.lastActivity }
        case "uptime": connections.sort { $0.start < $1.start }
        case let other: throw QueryError(text: "Invalid sorting option: \(other)")
        }
        let total = connections.count
        let shown = offset >= total ? [] : Array(connections[offset..<min(total, offset + max(0, limit))])
        return [
            "server_id": s.serverID, "now": time(s.now), "num_connections": shown.count, "total": total,
            "offset": offset, "limit": limit,
            "connections": shown.map { connection -> [String: Any] in
                var item: [String: Any] = [
                    "cid": connection.id, "kind": "Client", "type": "nats", "ip": connection.ip, "port": connection.port,
                    "start": time(connection.start), "last_activity": time(connection.lastActivity),
                    "uptime": goDuration(s.now.timeIntervalSince(connection.start)),
                    "idle": goDuration(s.now.timeIntervalSince(connection.lastActivity)),
                    "pending_bytes": connection.pendingBytes,
                    "in_msgs": connection.received.messages, "out_msgs": connection.sent.messages,
                    "in_bytes": connection.received.bytes, "out_bytes": connection.sent.bytes,
                    "subscriptions": connection.subscriptions.count,
                ]
                if let name = connection.name { item["name"] = name }
                if let lang = connection.lang { item["lang"] = lang }
                if let version = connection.version { item["version"] = version }
                if let user = connection.user { item["authorized_user"] = user }
                if connection.account != "$G" || s.accounts.count > 1 { item["account"] = connection.account }
                if subs { item["subscriptions_list"] = connection.subscriptions }
                if let stop = connection.stop {
                    item["stop"] = time(stop)
                    item["uptime"] = goDuration(stop.timeIntervalSince(connection.start))
                }
                if let reason = connection.reason { item["reason"] = reason }
                return item
            },
        ]
    }

    static func subsz(_ s: ServerSnapshot, _ query: [String: String]) throws -> [String: Any] {
        let subs = try flag(query, "subs")
        var result: [String: Any] = ["server_id": s.serverID, "now": time(s.now), "num_subscriptions": s.subscriptions]
        if let test = query["test"], !test.isEmpty {
            result["num_subscriptions"] = s.subscriptionSubjects.filter { Subject.matches(test, filter: $0) }.count
        }
        if subs {
            let offset = max(0, try integer(query, "offset", default: 0)), limit = try integer(query, "limit", default: 1024)
            var subjects = s.subscriptionSubjects
            if let test = query["test"], !test.isEmpty { subjects = subjects.filter { Subject.matches(test, filter: $0) } }
            result["total"] = subjects.count
            result["offset"] = offset
            result["limit"] = limit
            result["subscriptions_list"] = (offset >= subjects.count ? [] : Array(subjects[offset..<min(subjects.count, offset + max(0, limit))]))
                .map { ["subject": $0] }
        }
        return result
    }

    static func jsz(_ s: ServerSnapshot, _ query: [String: String]) throws -> [String: Any] {
        let streams = try flag(query, "streams"), consumers = try flag(query, "consumers"), accounts = try flag(query, "accounts")
        let config = try flag(query, "config")
        guard let jetStream = s.jetStream else {
            return ["server_id": s.serverID, "now": time(s.now), "disabled": true, "config": [String: Any]()]
        }
        let c = s.configuration
        var result: [String: Any] = [
            "server_id": s.serverID, "now": time(s.now),
            "config": ["max_memory": c.maxMemoryStore, "max_storage": c.maxFileStore, "store_dir": c.storeDirectory ?? ""],
            "memory": jetStream.reduce(0) { $0 + $1.memory }, "storage": jetStream.reduce(0) { $0 + $1.storage },
            "reserved_memory": 0, "reserved_storage": 0, "accounts": jetStream.count, "ha_assets": 0,
            "api": ["total": jetStream.reduce(0) { $0 + $1.apiTotal }, "errors": jetStream.reduce(0) { $0 + $1.apiErrors }],
            "streams": jetStream.reduce(0) { $0 + $1.streams }, "consumers": jetStream.reduce(0) { $0 + $1.consumers },
            "messages": jetStream.reduce(0) { $0 + $1.messages }, "bytes": jetStream.reduce(0) { $0 + $1.memory + $1.storage },
        ]
        if accounts || streams || consumers {
            result["account_details"] = jetStream.map { account -> [String: Any] in
                var detail: [String: Any] = ["name": account.name, "id": account.name, "memory": account.memory, "storage": account.storage,
                                             "api": ["total": account.apiTotal, "errors": account.apiErrors]]
                if streams || consumers {
                    detail["stream_detail"] = account.streamDetails.map { stream -> [String: Any] in
                        var item: [String: Any] = [
                            "name": stream.name,
                            "state": ["messages": stream.messages, "bytes": stream.bytes, "first_seq": stream.firstSequence,
                                      "last_seq": stream.lastSequence, "consumer_count": stream.consumers, "num_subjects": stream.subjects],
                        ]
                        if consumers && !stream.consumerDetails.isEmpty {
                            item["consumer_detail"] = stream.consumerDetails.map { JetStreamService.consumerInfo($0, stream: stream.name, withConfig: config) }
                        }
                        // Strata's own figures (the reference has none of these).
                        var strata: [String: Any] = ["damaged_regions_at_start": stream.damagedRegionsAtStart,
                                                     "records_lost_at_start": stream.recordsLostAtStart,
                                                     "damaged_frames_found_by_reads": stream.framesFoundDamagedByReads]
                        if let failure = stream.writeFailure { strata["write_failure"] = failure }
                        if !stream.unrestoredConsumers.isEmpty { strata["consumers_not_restored"] = stream.unrestoredConsumers }
                        if let disk = stream.disk {
                            strata["segments"] = disk.segments
                            strata["log_disk_bytes"] = disk.logBytes
                            strata["index_disk_bytes"] = disk.indexBytes
                            strata["dictionary_disk_bytes"] = disk.dictionaryBytes
                            strata["compression_ratio"] = (disk.compressionRatio(logical: stream.bytes) * 100).rounded() / 100
                        }
                        if let write = stream.write {
                            strata["bytes_written"] = write.bytesWritten
                            strata["bytes_synced"] = write.bytesSynced
                            strata["fsyncs"] = write.fsyncSeconds.count
                            strata["fsync_seconds_mean"] = write.fsyncSeconds.count == 0 ? 0 : write.fsyncSeconds.sum / Double(write.fsyncSeconds.count)
                            strata["append_batches"] = write.batchMessages.count
                            strata["open_seconds"] = write.openSeconds
                        }
                        item["x_strata"] = strata
                        return item
                    }
                }
                return detail
            }
        }
        return result
    }

    static func accountz(_ s: ServerSnapshot) -> [String: Any] {
        ["server_id": s.serverID, "now": time(s.now), "accounts": s.accounts.sorted()]
    }

    /// `{"status":"ok"}`, or 503 with the reason: JetStream on the server but a stream found damaged at start
    /// (`js-enabled-only` asks only whether JetStream is on).
    /// The answer while the server is still starting (recovering its JetStream streams; its client port not yet
    /// listening): `/healthz` has nats-server 2.9's words for a server whose client listener is not up, every
    /// other endpoint says that it is starting. All 503 (unknown paths are 404 before this is asked).
    static func starting(path: String) -> Response {
        if path == "/healthz" {
            return Response(status: 503, body: #"{"status":"error","error":"failed to be ready for connections after 1ms: server"}"#)
        }
        return Response(status: 503, body: #"{"error":"the server is starting: JetStream is recovering its streams"}"#)
    }

    static func healthz(_ s: ServerSnapshot, _ query: [String: String]) -> Response {
        let enabledOnly = (try? flag(query, "js-enabled-only")) ?? false
        let serverOnly = (try? flag(query, "js-server-only")) ?? false
        if enabledOnly && s.jetStream == nil {
            return Response(status: 503, body: #"{"status":"unavailable","error":"JetStream not enabled"}"#)
        }
        if !enabledOnly && !serverOnly, let damaged = s.jetStreamDamaged.first {
            var response = json(["status": "unavailable", "error": "JetStream stream \(damaged) was found damaged at start"])
            response.status = 503
            return response
        }
        // Streams deferred at start still being restored (a large store, seconds after the start).
        if !enabledOnly && !serverOnly, let restoring = s.jetStream?.reduce(0, { $0 + $1.restoring }), restoring > 0 {
            var response = json(["status": "unavailable", "error": "JetStream is restoring \(restoring) streams deferred at start"])
            response.status = 503
            return response
        }
        // A stream that is served but holds damaged data (found at start or by a read) until `strata repair`.
        let streams = s.jetStream?.flatMap(\.streamDetails) ?? []
        if !enabledOnly && !serverOnly,
           let damaged = streams.first(where: { $0.damagedRegionsAtStart > 0 || $0.framesFoundDamagedByReads > 0 }) {
            let found = damaged.damagedRegionsAtStart > 0 ? "at start" : "by a read"
            var response = json(["status": "unavailable",
                                 "error": "JetStream stream \(damaged.name) holds damaged data (found \(found)): run strata repair"])
            response.status = 503
            return response
        }
        if !enabledOnly && !serverOnly, let stream = streams.first(where: { !$0.unrestoredConsumers.isEmpty }) {
            var response = json(["status": "unavailable",
                                 "error": "JetStream consumer \(stream.unrestoredConsumers[0]) of stream \(stream.name) has a stored record that does not decode: not restored (delete or create it again)"])
            response.status = 503
            return response
        }
        // A stream whose last write failed (it serves reads, and stores again once a write succeeds, or for a
        // failed sync, after a restart).
        if !enabledOnly && !serverOnly, let failing = streams.first(where: { $0.writeFailure != nil }), let failure = failing.writeFailure {
            var response = json(["status": "unavailable", "error": "JetStream stream \(failing.name) cannot store messages: \(failure)"])
            response.status = 503
            return response
        }
        return Response(status: 200, body: #"{"status":"ok"}"#)
    }

    static func json(_ object: [String: Any]) -> Response {
        Response(status: 200, body: JSONWriter(pretty: true).text(object))
    }
}
