#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import StreamStore

/// `/metrics`: the figures of the monitoring endpoints in Prometheus text format, under the names and
/// labels prometheus-nats-exporter gives them (collector/collector.go, connz.go, healthz.go, jsz.go), so
/// dashboards and alerts written for the exporter work against Strata without it. Pure: a snapshot in,
/// text out.
///
/// - `gnatsd_varz_<key>{server_id}`: every number of `/varz`, nested keys joined with `_`; the string keys
///   the exporter keeps (`server_name`, `version`, `domain`) as `{server_id, value}` 1; `start` and
///   `config_load_time` as Unix milliseconds.
/// - `gnatsd_connz_{num_connections,total,offset,limit,pending_bytes,subscriptions,in_msgs,out_msgs,in_bytes,out_bytes}{server_id}`.
/// - `gnatsd_healthz_status{server_id}`: 0 when healthy, 1 when not.
/// - `jetstream_server_{jetstream_disabled,total_streams,total_consumers,total_messages,total_message_bytes,max_memory,max_storage}`
///   `jetstream_account_{max_storage,max_memory,storage_used,memory_used}`,
///   `jetstream_stream_{total_messages,total_bytes,first_seq,last_seq,consumer_count,subject_count,limit_bytes,limit_messages}`
///   and `jetstream_consumer_*` (as from `/jsz?consumers=true`) with the exporter's label names (cluster,
///   meta leader and raft labels empty: Strata is one server).
/// - Strata's own, `strata_stream_*` (disk, recovery, write path: fsync and append-batch latency
///   histograms, batch sizes, bytes written and synced) and `strata_consumer_*` (ack latency, redeliveries).
enum PrometheusExposition {
    static func text(_ snapshot: ServerSnapshot) -> String {
        var out = Lines()
        let id = snapshot.serverID
        // /varz, flattened as the exporter flattens it.
        var gauges: [(String, String, Double)] = []
        flatten(MonitoringEndpoints.varz(snapshot), prefix: "", into: &gauges)
        for (name, labels, value) in gauges.sorted(by: { $0.0 < $1.0 }) {
            out.gauge("gnatsd_varz_" + name, labels.isEmpty ? ["server_id": id] : ["server_id": id, "value": labels], value)
        }
        // /connz summary.
        let connections = snapshot.connections
        let connz: [(String, Double)] = [
            ("num_connections", Double(connections.count)), ("total", Double(connections.count)), ("offset", 0), ("limit", 1024),
            ("pending_bytes", Double(connections.reduce(0) { $0 + $1.pendingBytes })),
            ("subscriptions", Double(connections.reduce(0) { $0 + $1.subscriptions.count })),
            ("in_msgs", Double(connections.reduce(0) { $0 + $1.received.messages })),
            ("out_msgs", Double(connections.reduce(0) { $0 + $1.sent.messages })),
            ("in_bytes", Double(connections.reduce(0) { $0 + $1.received.bytes })),
            ("out_bytes", Double(connections.reduce(0) { $0 + $1.sent.bytes })),
        ]
        for (name, value) in connz { out.gauge("gnatsd_connz_" + name, ["server_id": id], value) }
        // /healthz.
        let healthy = MonitoringEndpoints.healthz(snapshot, [:]).status == 200
        out.gauge("gnatsd_healthz_status", ["server_id": id], healthy ? 0 : 1)
        // /jsz.
        let server: [String: String] = ["server_id": id, "server_name": snapshot.serverName, "cluster": "",
                                        "domain": snapshot.configuration.jetStreamDomain ?? "", "meta_leader": "", "is_meta_leader": "false"]
        let jetStream = snapshot.jetStream ?? []
        out.gauge("jetstream_server_jetstream_disabled", server, snapshot.jetStream == nil ? 1 : 0)
        out.gauge("jetstream_server_total_streams", server, Double(jetStream.reduce(0) { $0 + $1.streams }))
        out.gauge("jetstream_server_total_consumers", server, Double(jetStream.reduce(0) { $0 + $1.consumers }))
        out.gauge("jetstream_server_total_messages", server, Double(jetStream.reduce(0) { $0 + $1.messages }))
        out.gauge("jetstream_server_total_message_bytes", server, Double(jetStream.reduce(0) { $0 + $1.memory + $1.storage }))
        out.gauge("jetstream_server_max_memory", server, Double(snapshot.configuration.maxMemoryStore))
        out.gauge("jetstream_server_max_storage", server, Double(snapshot.configuration.maxFileStore))
        for account in jetStream {
            var accountLabels = server
            accountLabels["account"] = account.name
            accountLabels["account_name"] = account.name
            accountLabels["account_id"] = account.name
            out.gauge("jetstream_account_max_storage", accountLabels, Double(snapshot.configuration.maxFileStore))
            out.gauge("jetstream_account_max_memory", accountLabels, Double(snapshot.configuration.maxMemoryStore))
            out.gauge("jetstream_account_storage_used", accountLabels, Double(account.storage))
            out.gauge("jetstream_account_memory_used", accountLabels, Double(account.memory))
            for stream in account.streamDetails {
                var labels = accountLabels
                labels["stream_name"] = stream.name
                labels["stream_leader"] = snapshot.serverName
                labels["is_stream_leader"] = "true"
                labels["stream_raft_group"] = ""
                out.gauge("jetstream_stream_total_messages", labels, Double(stream.messages))
                out.gauge("jetstream_stream_total_bytes", labels, Double(stream.bytes))
                out.gauge("jetstream_stream_first_seq", labels, Double(stream.firstSequence))
                out.gauge("jetstream_stream_last_seq", labels, Double(stream.lastSequence))
                out.gauge("jetstream_stream_consumer_count", labels, Double(stream.consumers))
                out.gauge("jetstream_stream_subject_count", labels, Double(stream.subjects))
                out.gauge("jetstream_stream_limit_bytes", labels, Double(stream.maxBytes))
                out.gauge("jetstream_stream_limit_messages", labels, Double(stream.maxMessages))
                for consumer in stream.consumerDetails {
                    var consumerLabels = labels
                    consumerLabels["consumer_name"] = consumer.name
                    consumerLabels["consumer_leader"] = snapshot.serverName
                    consumerLabels["is_consumer_leader"] = "true"
                    consumerLabels["consumer_desc"] = consumer.config.description ?? ""
                    let now = Double(snapshot.now.timeIntervalSince1970)
                    if consumer.delivered.last > 0 {
                        out.gauge("jetstream_consumer_last_delivery_seconds", consumerLabels, now - Double(consumer.delivered.last) / 1e9)
                    }
                    if consumer.ackFloor.last > 0 {
                        out.gauge("jetstream_consumer_last_ack_seconds", consumerLabels, now - Double(consumer.ackFloor.last) / 1e9)
                    }
                    out.gauge("jetstream_consumer_delivered_consumer_seq", consumerLabels, Double(consumer.delivered.consumer))
                    out.gauge("jetstream_consumer_delivered_stream_seq", consumerLabels, Double(consumer.delivered.stream))
                    out.gauge("jetstream_consumer_num_ack_pending", consumerLabels, Double(consumer.numAckPending))
                    out.gauge("jetstream_consumer_num_redelivered", consumerLabels, Double(consumer.numRedelivered))
                    out.gauge("jetstream_consumer_num_waiting", consumerLabels, Double(consumer.numWaiting))
                    out.gauge("jetstream_consumer_num_pending", consumerLabels, Double(consumer.numPending))
                    out.gauge("jetstream_consumer_ack_floor_stream_seq", consumerLabels, Double(consumer.ackFloor.stream))
                    out.gauge("jetstream_consumer_ack_floor_consumer_seq", consumerLabels, Double(consumer.ackFloor.consumer))
                }
            }
        }
        // Strata's own, under its prefix, labelled with the account and the stream (and the consumer) only.
        for account in jetStream {
            for stream in account.streamDetails {
                let own = ["account": account.name, "stream_name": stream.name]
                if let disk = stream.disk {
                    out.gauge("strata_stream_segments", own, Double(disk.segments))
                    out.gauge("strata_stream_log_disk_bytes", own, Double(disk.logBytes))
                    out.gauge("strata_stream_index_disk_bytes", own, Double(disk.indexBytes))
                    out.gauge("strata_stream_compression_ratio", own, disk.compressionRatio(logical: stream.bytes))
                }
                out.gauge("strata_stream_damaged_regions_at_start", own, Double(stream.damagedRegionsAtStart))
                out.gauge("strata_stream_records_lost_at_start", own, Double(stream.recordsLostAtStart))
                if let write = stream.write {
                    out.gauge("strata_stream_open_seconds", own, write.openSeconds)
                    out.counter("strata_stream_written_bytes_total", own, Double(write.bytesWritten))
                    out.counter("strata_stream_synced_bytes_total", own, Double(write.bytesSynced))
                    out.histogram("strata_stream_fsync_seconds", own, write.fsyncSeconds)
                    out.histogram("strata_stream_append_batch_seconds", own, write.batchSeconds)
                    out.histogram("strata_stream_append_batch_messages", own, write.batchMessages)
                }
                for consumer in stream.consumerDetails {
                    var labels = own
                    labels["consumer_name"] = consumer.name
                    out.counter("strata_consumer_redeliveries_total", labels, Double(consumer.redeliveries))
                    out.histogram("strata_consumer_ack_seconds", labels, consumer.ackSeconds)
                }
            }
        }
        return out.text
    }

    /// The exporter's walk of a `/varz` object: numbers become gauges, the kept string keys labelled
    /// gauges (times as Unix milliseconds), maps are flattened with `_`, everything else is skipped.
    static func flatten(_ object: [String: Any], prefix: String, into gauges: inout [(String, String, Double)]) {
        let labelKeys: Set<String> = ["server_name", "version", "domain", "leader", "name"]
        let timeKeys: Set<String> = ["start", "config_load_time"]
        for (key, value) in object {
            let name = sanitize(prefix.isEmpty ? key : prefix + "_" + key)
            if name == "leaf" || name.hasPrefix("cluster_") || name.hasPrefix("gateway_") { continue }
            switch value {
            case is Bool: break  // (JSON booleans are not numbers; the exporter skips them)
            case let number as Int: gauges.append((name, "", Double(number)))
            case let number as Int64: gauges.append((name, "", Double(number)))
            case let number as UInt64: gauges.append((name, "", Double(number)))
            case let number as Double: gauges.append((name, "", number))
            case let text as String:
                if timeKeys.contains(key), let millis = unixMilliseconds(text) {
                    gauges.append((name, "", millis))
                } else if labelKeys.contains(key) {
                    gauges.append((name, text, 1))
                }
            case let map as [String: Any]: flatten(map, prefix: name, into: &gauges)
            default: break
            }
        }
    }

    static func sanitize(_ name: String) -> String {
        var text = name.replacing("/", with: "_")
        while text.contains("__") { text = text.replacing("__", with: "_") }
        while text.hasPrefix("_") { text.removeFirst() }
        while text.hasSuffix("_") { text.removeLast() }
        return text
    }

    /// `2026-12-02T13:50:13.855192557Z` as Unix milliseconds.
    static func unixMilliseconds(_ text: String) -> Double? {
        guard let nanoseconds = RFC3339Nanoseconds.parse(text) else { return nil }
        return Double(nanoseconds / 1_000_000)
    }

    /// The text format's lines: each metric's samples together under its one `# TYPE` line, in the order
    /// the metrics first appear (the format requires a family's lines to be contiguous).
    struct Lines {
        private var order: [String] = []
        private var types: [String: String] = [:]
        private var samples: [String: [String]] = [:]

        var text: String {
            var out = ""
            for name in order {
                out += "# HELP \(name) \(name)\n# TYPE \(name) \(types[name]!)\n"
                for line in samples[name]! { out += line }
            }
            return out
        }

        mutating func gauge(_ name: String, _ labels: [String: String], _ value: Double) {
            sample(name, type: "gauge", name, labels, value)
        }

        mutating func counter(_ name: String, _ labels: [String: String], _ value: Double) {
            sample(name, type: "counter", name, labels, value)
        }

        /// `name_bucket{le=…}` (cumulative, up to `+Inf`), `name_sum` and `name_count`.
        mutating func histogram(_ name: String, _ labels: [String: String], _ histogram: Histogram) {
            var cumulative: UInt64 = 0
            for (index, count) in histogram.counts.enumerated() {
                cumulative += count
                var bucket = labels
                bucket["le"] = index < histogram.bounds.count ? String(histogram.bounds[index]) : "+Inf"
                sample(name, type: "histogram", name + "_bucket", bucket, Double(cumulative))
            }
            sample(name, type: "histogram", name + "_sum", labels, histogram.sum)
            sample(name, type: "histogram", name + "_count", labels, Double(histogram.count))
        }

        private mutating func sample(_ family: String, type: String, _ name: String, _ labels: [String: String], _ value: Double) {
            if samples[family] == nil { order.append(family); samples[family] = []; types[family] = type }
            let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",")
            let number = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            samples[family]!.append("\(name){\(rendered)} \(number)\n")
        }

        private func escape(_ value: String) -> String {
            value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
                .replacing("\n", with: "\\n")
        }
    }
}

/// RFC 3339 times as JetStream writes them (UTC, `Z`, up to nine fraction digits) read back to Unix
/// nanoseconds.
enum RFC3339Nanoseconds {
    static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: bytes[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19) else { return nil }
        var fraction: Int64 = 0
        if bytes.count > 21 && bytes[19] == UInt8(ascii: ".") {
            let digits = bytes[20..<(bytes.count - 1)]
            guard digits.count <= 9, let value = Int64(String(decoding: digits, as: UTF8.self)) else { return nil }
            fraction = value * Int64(pow(10, Double(9 - digits.count)))
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = Int64(timegm(&parts))
        return seconds * 1_000_000_000 + fraction
    }
}
