import Foundation
import Testing
@testable import Broker

/// The monitoring endpoints as pure functions of a snapshot: no socket, no server.
@Suite struct MonitoringEndpointsTests {
    static func snapshot(connections: Int = 3) -> ServerSnapshot {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let open = (1...connections).map { i in
            ConnectionSnapshot(id: UInt64(i), ip: "127.0.0.1", port: 5000 + i, start: start, lastActivity: start.addingTimeInterval(Double(i)),
                               received: MessageCount(messages: i, bytes: i * 10), sent: MessageCount(messages: 10 * i, bytes: 100 * i),
                               pendingBytes: 0, subscriptions: (0..<i).map { "s.\($0)" }, name: "c\(i)", lang: "swift", version: "1",
                               user: nil, account: "$G", tls: false)
        }
        return ServerSnapshot(serverID: "NID", serverName: "n", configuration: BrokerConfiguration(), httpHost: "0.0.0.0", httpPort: 8222,
                              start: start, now: start.addingTimeInterval(3723), configLoaded: start, connections: open,
                              totalConnections: 7, received: MessageCount(messages: 6, bytes: 60), sent: MessageCount(messages: 60, bytes: 600),
                              slowConsumers: 1, subscriptions: 6, subscriptionSubjects: ["a.*", "a.b", "c"], residentBytes: 1 << 20,
                              cpuPercent: 1.25, cores: 2, jetStream: nil, jetStreamDamaged: [], accounts: ["$G"], requestCounts: ["/varz": 2])
    }

    static func json(_ response: MonitoringEndpoints.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
    }

    @Test func varzReportsTotalsInTheReferencesUnits() throws {
        let response = MonitoringEndpoints.respond(path: "/varz", query: [:], snapshot: Self.snapshot())
        #expect(response.status == 200)
        let varz = try Self.json(response)
        #expect(varz["uptime"] as? String == "1h2m3s")
        #expect(varz["ping_interval"] as? Int == 120_000_000_000 && varz["write_deadline"] as? Int == 10_000_000_000)
        #expect(varz["in_msgs"] as? Int == 6 && varz["out_bytes"] as? Int == 600 && varz["total_connections"] as? Int == 7)
        #expect(varz["connections"] as? Int == 3 && varz["slow_consumers"] as? Int == 1)
        #expect((varz["jetstream"] as? [String: Any])?.isEmpty == true)
    }

    @Test func leafzListsLeafConnectionsByAccount() throws {
        var snapshot = Self.snapshot()
        snapshot.leafNodes = [
            LeafSnapshot(id: 9, name: "hub1", isSpoke: true, account: "$G", ip: "10.0.0.1", port: 7422, received: MessageCount(messages: 2, bytes: 20),
                         sent: MessageCount(messages: 3, bytes: 30), subscriptions: ["$LDS.x", "orders.>"]),
            LeafSnapshot(id: 4, name: "edge", isSpoke: false, account: "A", ip: "10.0.0.2", port: 51000, received: MessageCount(),
                         sent: MessageCount(), subscriptions: []),
        ]
        let all = try Self.json(MonitoringEndpoints.respond(path: "/leafz", query: ["subs": "1"], snapshot: snapshot))
        let leafs = try #require(all["leafs"] as? [[String: Any]])
        #expect(all["leafnodes"] as? Int == 2 && leafs.map { $0["name"] as? String } == ["edge", "hub1"])
        #expect(leafs[1]["subscriptions_list"] as? [String] == ["$LDS.x", "orders.>"] && leafs[1]["out_bytes"] as? Int == 30)
        #expect(leafs[1]["is_spoke"] as? Bool == true && leafs[1]["subscriptions"] as? Int == 2)
        let one = try Self.json(MonitoringEndpoints.respond(path: "/leafz", query: ["acc": "A"], snapshot: snapshot))
        #expect(one["leafnodes"] as? Int == 1 && (one["leafs"] as? [[String: Any]])?.first?["subscriptions_list"] == nil)
        #expect(try Self.json(MonitoringEndpoints.respond(path: "/varz", query: [:], snapshot: snapshot))["leafnodes"] as? Int == 2)
        #expect(MonitoringEndpoints.respond(path: "/leafz", query: ["subs": "maybe"], snapshot: snapshot).status == 400)
    }

    @Test func connzPagesSortsAndFilters() throws {
        let snapshot = Self.snapshot(connections: 5)
        let page = try Self.json(MonitoringEndpoints.respond(path: "/connz", query: ["limit": "2", "offset": "1"], snapshot: snapshot))
        #expect(page["total"] as? Int == 5 && page["num_connections"] as? Int == 2)
        #expect((page["connections"] as? [[String: Any]])?.map { $0["cid"] as? Int } == [2, 3])
        let sorted = try Self.json(MonitoringEndpoints.respond(path: "/connz", query: ["sort": "subs", "subs": "1"], snapshot: snapshot))
        let first = try #require((sorted["connections"] as? [[String: Any]])?.first)
        #expect(first["cid"] as? Int == 5 && (first["subscriptions_list"] as? [String])?.count == 5)
        let one = try Self.json(MonitoringEndpoints.respond(path: "/connz", query: ["cid": "4"], snapshot: snapshot))
        #expect((one["connections"] as? [[String: Any]])?.map { $0["cid"] as? Int } == [4])
        #expect(MonitoringEndpoints.respond(path: "/connz", query: ["sort": "colour"], snapshot: snapshot).status == 400)
        #expect(MonitoringEndpoints.respond(path: "/connz", query: ["offset": "x"], snapshot: snapshot)
                == .init(status: 400, body: "Error decoding int for 'offset': strconv.Atoi: parsing \"x\": invalid syntax"))
        let beyond = try Self.json(MonitoringEndpoints.respond(path: "/connz", query: ["offset": "99"], snapshot: snapshot))
        #expect(beyond["num_connections"] as? Int == 0)
    }

    @Test func subszTestsASubjectAgainstTheSubscriptions() throws {
        let subsz = try Self.json(MonitoringEndpoints.respond(path: "/subsz", query: ["test": "a.b", "subs": "true"], snapshot: Self.snapshot()))
        #expect(subsz["num_subscriptions"] as? Int == 2)
        #expect((subsz["subscriptions_list"] as? [[String: Any]])?.compactMap { $0["subject"] as? String } == ["a.*", "a.b"])
    }

    @Test func healthzAndUnknownPaths() {
        var snapshot = Self.snapshot()
        #expect(MonitoringEndpoints.respond(path: "/healthz", query: [:], snapshot: snapshot).status == 200)
        #expect(MonitoringEndpoints.respond(path: "/healthz", query: ["js-enabled-only": "true"], snapshot: snapshot).status == 503)
        snapshot.jetStream = []
        snapshot.jetStreamDamaged = ["ORDERS"]
        let damaged = MonitoringEndpoints.respond(path: "/healthz", query: [:], snapshot: snapshot)
        #expect(damaged.status == 503 && damaged.body.contains("ORDERS"))
        #expect(MonitoringEndpoints.respond(path: "/healthz", query: ["js-server-only": "true"], snapshot: snapshot).status == 200)
        #expect(MonitoringEndpoints.respond(path: "/routez/x", query: [:], snapshot: snapshot).status == 404)
        #expect(MonitoringServer.split("/connz/?limit=2&subs=1").path == "/connz")
        #expect(MonitoringServer.split("/connz/?limit=2&subs=1").query == ["limit": "2", "subs": "1"])
    }

    /// What keeps a served stream from being healthy, in the order it is reported: damaged data, a consumer
    /// record that did not decode, a write failure (full or read-only disk, failed sync).
    @Test func healthzNamesAStreamThatCannotStoreOrHoldsAnUnrestoredConsumer() {
        var snapshot = Self.snapshot()
        var stream = ServerSnapshot.StreamFigures(name: "ORDERS", messages: 1, bytes: 10, firstSequence: 1, lastSequence: 1, consumers: 0)
        func account() -> ServerSnapshot.JetStreamAccount {
            ServerSnapshot.JetStreamAccount(name: "$G", streams: 1, consumers: 0, messages: 1, memory: 0, storage: 10,
                                            apiTotal: 0, apiErrors: 0, streamDetails: [stream])
        }
        func health() -> MonitoringEndpoints.Response { MonitoringEndpoints.respond(path: "/healthz", query: [:], snapshot: snapshot) }
        snapshot.jetStream = [account()]
        #expect(health().status == 200)
        stream.writeFailure = "I/O error: pwrite: No space left on device (errno 28)"
        snapshot.jetStream = [account()]
        #expect(health().status == 503 && health().body.contains("ORDERS cannot store messages: I/O error: pwrite: No space left"))
        #expect(MonitoringEndpoints.respond(path: "/healthz", query: ["js-server-only": "true"], snapshot: snapshot).status == 200)
        stream.unrestoredConsumers = ["WORKERS"]
        snapshot.jetStream = [account()]
        #expect(health().body.contains("consumer WORKERS of stream ORDERS"))
        let jsz = MonitoringEndpoints.respond(path: "/jsz", query: ["streams": "true"], snapshot: snapshot).body
        #expect(jsz.contains("\"write_failure\"") && jsz.contains("\"consumers_not_restored\""))
        stream.writeFailure = nil
        stream.unrestoredConsumers = []
        snapshot.jetStream = [account()]
        #expect(health().status == 200)
    }

    @Test func goDurations() {
        #expect(MonitoringEndpoints.goDuration(0) == "0s")
        #expect(MonitoringEndpoints.goDuration(59.9) == "59s")
        #expect(MonitoringEndpoints.goDuration(3600) == "1h0m0s")
        #expect(MonitoringEndpoints.goDuration(90061) == "1d1h1m1s")
    }

    @Test func metricsUseTheExportersNames() {
        let text = PrometheusExposition.text(Self.snapshot())
        #expect(text.contains("gnatsd_varz_in_msgs{server_id=\"NID\"} 6\n"))
        #expect(text.contains("gnatsd_varz_version{server_id=\"NID\",value=\"2.9.10\"} 1\n"))
        #expect(text.contains("gnatsd_varz_start{server_id=\"NID\"} 1800000000000\n"))
        #expect(text.contains("gnatsd_connz_out_msgs{server_id=\"NID\"} 60\n"))
        #expect(text.contains("gnatsd_healthz_status{server_id=\"NID\"} 0\n"))
        #expect(text.contains("jetstream_server_jetstream_disabled{"))
        #expect(!text.contains("gnatsd_varz_auth_required"))  // (a boolean: skipped, as the exporter skips it)
        #expect(text.components(separatedBy: "# TYPE gnatsd_varz_in_msgs gauge").count == 2)
    }

    @Test func rfc3339BackToUnixNanoseconds() {
        #expect(RFC3339Nanoseconds.parse("2027-01-15T08:00:00Z") == Int64(1_800_000_000_000_000_000))
        #expect(RFC3339Nanoseconds.parse("2027-01-15T08:00:00.5Z") == Int64(1_800_000_000_500_000_000))
        #expect(RFC3339Nanoseconds.parse(JetStreamService.time(1_800_000_000_123_456_789)) == 1_800_000_000_123_456_789)
        // Go's RFC3339Nano, as the reference writes times: trailing zeros of the fraction go.
        #expect(JetStreamService.time(1_800_000_000_123_456_780) == "2027-01-15T08:00:00.12345678Z")
        #expect(JetStreamService.time(1_800_000_000_012_000_000) == "2027-01-15T08:00:00.012Z")
        #expect(JetStreamService.time(1_800_000_000_000_000_000) == "2027-01-15T08:00:00Z")
        #expect(JetStreamService.time(1_800_000_000_000_000_001) == "2027-01-15T08:00:00.000000001Z")
        #expect(RFC3339Nanoseconds.parse("yesterday") == nil)
    }
}
