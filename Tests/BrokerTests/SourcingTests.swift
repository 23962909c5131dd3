#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DynamicJSON
import NATSProtocol
import StreamStore
import Testing
@testable import Broker

/// The mirror and source pieces that decide without sockets: the ack-reply metadata, the tracker's answer
/// to each message (nats-server 2.9.10's `processInboundMirrorMsg` / `processInboundSourceMsg`), the
/// consumer request, the source header, the config's JSON, and what stream configs are refused.
@Suite struct SourcingTests {
    func delivery(_ stream: UInt64, _ consumer: UInt64, count: UInt64 = 1, pending: UInt64 = 0, name: String = "C") -> DeliveryInfo {
        DeliveryInfo(stream: "O", consumer: name, deliveries: count, streamSequence: stream, consumerSequence: consumer,
                     timestamp: 1_700_000_000_000_000_000 + Int64(stream), pending: pending)
    }

    @Test func ackRepliesAreReadInTheNineTokenForm() {
        #expect(DeliveryInfo(ackReply: "$JS.ACK.ORDERS.mirror-1.1.42.7.1700000000000000042.3")
                == DeliveryInfo(stream: "ORDERS", consumer: "mirror-1", deliveries: 1, streamSequence: 42, consumerSequence: 7,
                                timestamp: 1_700_000_000_000_000_042, pending: 3))
        #expect(DeliveryInfo(ackReply: "$JS.ACK.ORDERS.C.1.42.7.17") == nil)  // too short
        #expect(DeliveryInfo(ackReply: "$JS.ACK.edge.HASH.ORDERS.C.1.42.7.17.3.rand") == nil)  // the v2 form is not what 2.9.10 sends
        #expect(DeliveryInfo(ackReply: "$JS.NAK.ORDERS.C.1.42.7.17.3") == nil)
        #expect(DeliveryInfo(ackReply: "$JS.ACK.ORDERS.C.1.x.7.17.3") == nil)
        #expect(DeliveryInfo(ackReply: "_INBOX.abc") == nil)
    }

    @Test func aMirrorTakesTheNextSequenceIgnoresOldOnesAndSkipsTheOriginsGaps() {
        var tracker = SourceTracker(kind: .mirror, streamSequence: 0)
        #expect(tracker.message(delivery(1, 1)) == .ignore)  // no consumer yet
        tracker.created(consumer: "C", delivered: 0)
        #expect(tracker.message(delivery(1, 1, pending: 5)) == .store(delivery(1, 1, pending: 5)))
        #expect(tracker.lag == 4)
        #expect(tracker.message(delivery(1, 1)) == .ignore)  // already taken
        #expect(tracker.message(delivery(2, 2, count: 2)) == .ignore)  // a redelivery
        #expect(tracker.message(delivery(2, 2, name: "OLD")) == .ignore)  // an earlier consumer's
        // Origin sequences 2 and 3 were removed there: the next delivery follows the last one, so they are skipped.
        #expect(tracker.message(delivery(4, 2)) == .store(delivery(4, 2)))
        #expect(tracker.streamSequence == 4 && tracker.nextSequence == 5)
        // A delivery missed (consumer sequence 3 never came): a new consumer from 5.
        #expect(tracker.message(delivery(7, 4)) == .retry)
        #expect(tracker.streamSequence == 4)
    }

    @Test func aMirrorNeverGoesBackBelowWhatItHolds() {
        var tracker = SourceTracker(kind: .mirror, streamSequence: 10)
        tracker.created(consumer: "C", delivered: 3)  // an origin that starts lower than the mirror's last
        #expect(tracker.streamSequence == 10)
        #expect(tracker.message(delivery(4, 1)) == .ignore)
        tracker.created(consumer: "D", delivered: 20)  // one whose messages up to 20 are gone
        #expect(tracker.message(delivery(21, 1, name: "D")) == .store(delivery(21, 1, name: "D")))
    }

    @Test func aSourceFollowsTheConsumerSequence() {
        var tracker = SourceTracker(kind: .source, streamSequence: 0)
        tracker.created(consumer: "C", delivered: 0)
        #expect(tracker.message(delivery(3, 1)) == .store(delivery(3, 1)))  // filtered: origin sequences jump
        #expect(tracker.message(delivery(9, 2)) == .store(delivery(9, 2)))
        #expect(tracker.message(delivery(9, 2)) == .ignore)
        #expect(tracker.message(delivery(12, 4)) == .retry)  // consumer sequence 3 missed
        #expect(tracker.nextSequence == 10)
        tracker.rewind(to: 3)  // the store failed after 3
        #expect(tracker.nextSequence == 4 && tracker.consumer == nil)
    }

    @Test func heartbeatsCatchMissedMessagesAndFlowControlIsAnswered() {
        var tracker = SourceTracker(kind: .mirror, streamSequence: 0)
        tracker.created(consumer: "C", delivered: 0)
        #expect(tracker.control(reply: "$JS.FC.O.C.1", lastConsumer: nil, stalled: nil) == .answer("$JS.FC.O.C.1"))
        #expect(tracker.message(delivery(1, 1)) == .store(delivery(1, 1)))
        #expect(tracker.control(reply: nil, lastConsumer: 1, stalled: nil) == .ignore)
        #expect(tracker.control(reply: nil, lastConsumer: 0, stalled: nil) == .ignore)
        #expect(tracker.control(reply: nil, lastConsumer: 1, stalled: "$JS.FC.O.C.2") == .answer("$JS.FC.O.C.2"))
        #expect(tracker.control(reply: nil, lastConsumer: 2, stalled: nil) == .retry)  // the consumer sent one we never saw
    }

    @Test func theConsumerRequestIsTheReferences() throws {
        let plain = SourceConsumerRequest(origin: APIStreamSource(name: "ORDERS"), deliverSubject: "$JS.M.abc", start: .sequence(11), name: "mirror-x")
        #expect(plain.subject == "$JS.API.CONSUMER.CREATE.ORDERS")
        let body = try #require(try JSONReader.value(plain.body) as? [String: Any])
        #expect(body["stream_name"] as? String == "ORDERS")
        let config = try #require(body["config"] as? [String: Any])
        #expect(config["deliver_subject"] as? String == "$JS.M.abc")
        #expect(config["deliver_policy"] as? String == "by_start_sequence" && config["opt_start_seq"] as? Int == 11)
        #expect(config["ack_policy"] as? String == "none" && config["max_deliver"] as? Int == 1)
        #expect(config["ack_wait"] as? Int == 79_200_000_000_000)
        #expect(config["idle_heartbeat"] as? Int == 1_000_000_000)
        #expect(config["flow_control"] as? Bool == true && config["name"] == nil && config["filter_subject"] == nil)

        let external = APIStreamSource(name: "ORDERS", filterSubject: "orders.eu.*", external: .init(api: "$JS.hub.API", deliver: "from.hub"))
        let filtered = SourceConsumerRequest(origin: external, deliverSubject: "x", start: .time("2026-01-01T00:00:00Z"), name: "src-1")
        #expect(filtered.subject == "$JS.hub.API.CONSUMER.CREATE.ORDERS.src-1.orders.eu.*")
        let filteredConfig = try #require((try JSONReader.value(filtered.body) as? [String: Any])?["config"] as? [String: Any])
        #expect(filteredConfig["deliver_policy"] as? String == "by_start_time" && filteredConfig["opt_start_time"] as? String == "2026-01-01T00:00:00Z")
        #expect(filteredConfig["filter_subject"] as? String == "orders.eu.*" && filteredConfig["name"] as? String == "src-1")
        let all = SourceConsumerRequest(origin: APIStreamSource(name: "O", external: .init(api: "$JS.hub.API.")), deliverSubject: "x", start: .all, name: "n")
        #expect(all.subject == "$JS.hub.API.CONSUMER.CREATE.O")  // (a trailing dot in the prefix is folded, as the reference)

        #expect(SourceConsumerRequest.deliverSubject(mirror: true, external: nil, random: "r") == "$JS.M.r")
        #expect(SourceConsumerRequest.deliverSubject(mirror: false, external: nil, random: "r") == "$JS.S.r")
        #expect(SourceConsumerRequest.deliverSubject(mirror: false, external: .init(api: "a", deliver: "d.hub"), random: "r") == "d.hub.S.r")
    }

    @Test func theSourceHeaderNamesTheIndexNameAndOriginSequence() {
        #expect(SourceHeader.indexName(of: APIStreamSource(name: "ORDERS")) == "ORDERS")
        let external = SourceHeader.indexName(of: APIStreamSource(name: "ORDERS", external: .init(api: "$JS.hub.API")))
        #expect(external.hasPrefix("ORDERS:") && external.count == "ORDERS:".count + 8)
        #expect(SourceHeader.hash("$JS.hub.API") == SourceHeader.hash("$JS.hub.API") && SourceHeader.hash("$JS.hub.API") != SourceHeader.hash("$JS.edge.API"))
        #expect(SourceHeader.hash("$JS.hub.API").allSatisfy { $0.isLetter || $0.isNumber })
        #expect(SourceHeader.parse("ORDERS 42")! == ("ORDERS", 42))
        #expect(SourceHeader.parse("$JS.ACK.ORDERS.C.1.42.7.17.3")! == ("ORDERS", 42))  // the old form
        #expect(SourceHeader.parse("ORDERS") == nil && SourceHeader.parse("ORDERS x") == nil)

        let added = String(decoding: StreamSourcing.headers([], setting: "O 1"), as: UTF8.self)
        #expect(added == "NATS/1.0\r\nNats-Stream-Source: O 1\r\n\r\n")
        let chained = StreamSourcing.headers(Array("NATS/1.0\r\nK: v\r\nNats-Stream-Source: UP 9\r\n\r\n".utf8), setting: "MID 3")
        #expect(String(decoding: chained, as: UTF8.self) == "NATS/1.0\r\nK: v\r\nNats-Stream-Source: MID 3\r\n\r\n")
    }

    @Test func sourcesResumeFromTheNewestHeaderOfEachOrigin() async throws {
        let store = try MemoryStream(config: StreamConfig(name: "S"))
        for header in ["A 1", "B 5", "A 2", nil, "B 7", "$JS.ACK.C.x.1.3.1.1.0"] {
            let headers = header.map { Array("NATS/1.0\r\nNats-Stream-Source: \($0)\r\n\r\n".utf8) } ?? []
            _ = try await store.append(AppendRequest(subject: "s", headers: headers, payload: [1]))
        }
        #expect(StreamSourcing.resumePoints(in: store) == ["A": 2, "B": 7, "C": 3])
        #expect(StreamSourcing.resumePoints(in: try MemoryStream(config: StreamConfig(name: "E"))) == [:])
    }

    @Test func mirrorAndSourcesDecodeAndEncodeAsTheReferenceWritesThem() throws {
        let json = #"{"name":"M","mirror":{"name":"O","opt_start_seq":5,"filter_subject":"","external":{"api":"$JS.hub.API"}},"sources":[]}"#
        let config = try JSONDecoder().decode(APIStreamConfig.self, from: Data(json.utf8))
        #expect(config.mirror == APIStreamSource(name: "O", optStartSeq: 5, external: .init(api: "$JS.hub.API")))
        #expect(config.sources == nil && config.hasMirror && !config.hasSources)
        #expect(config.duplicateWindow == 0)  // a mirror keeps no duplicate window of its own
        let encoded = try #require(try JSONReader.value(Array(JSONEncoder().encode(config))) as? [String: Any])
        let mirror = try #require(encoded["mirror"] as? [String: Any])
        #expect(mirror["name"] as? String == "O" && mirror["opt_start_seq"] as? Int == 5)
        #expect(mirror["filter_subject"] == nil && mirror["opt_start_time"] == nil && encoded["sources"] == nil)
        #expect((mirror["external"] as? [String: Any])?["api"] as? String == "$JS.hub.API")
        let again = try JSONDecoder().decode(APIStreamConfig.self, from: JSONEncoder().encode(config))
        #expect(again == config)
    }

    @Test func streamConfigsWithMirrorsAndSourcesAreCheckedAsTheReferenceDoes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-sourcing-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = try StreamManager(storeDirectory: directory)
        defer { manager.closeAll() }
        func code(_ config: APIStreamConfig) -> Int? {
            do { _ = try manager.create(config); return nil } catch let error as APIError { return error.errCode } catch { return -1 }
        }
        var origin = APIStreamConfig(name: "O", subjects: ["o.>"])
        origin.maxMsgSize = 1024
        #expect(code(origin) == nil)
        var mirror = APIStreamConfig(name: "M", subjects: [])
        mirror.mirror = APIStreamSource(name: "O")
        mirror.maxMsgSize = 512
        #expect(code(mirror) == 10030)  // smaller messages than the origin's
        mirror.maxMsgSize = -1
        mirror.mirror?.filterSubject = "p.>"
        #expect(code(mirror) == 10052)  // a filter outside the origin's subjects
        mirror.mirror?.filterSubject = nil
        mirror.sources = [APIStreamSource(name: "O")]
        #expect(code(mirror) == 10031)
        mirror.sources = nil
        mirror.mirror?.external = .init(api: "$JS.API")
        #expect(code(mirror) == 10021)
        mirror.mirror?.external = .init(api: "$JS.*.API")
        #expect(code(mirror) == 10052)
        mirror.mirror?.external = .init(api: "$JS.hub.API", deliver: "d.>")
        #expect(code(mirror) == 10024)
        mirror.mirror?.external = nil
        #expect(code(mirror) == nil)
        #expect(manager.stream(named: "M")?.config.subjects == [])
        var sourced = APIStreamConfig(name: "S", subjects: [])
        sourced.sources = [APIStreamSource(name: "M")]
        #expect(code(sourced) == nil)
        #expect(manager.stream(named: "S")?.config.subjects == [])  // no subject of its own
        var cycle = APIStreamConfig(name: "T", subjects: ["t"])
        cycle.sources = [APIStreamSource(name: "S"), APIStreamSource(name: "T")]
        #expect(code(cycle) == 10052)
        var changed = mirror
        changed.mirror?.optStartSeq = 3
        #expect(throws: APIError(code: 400, errCode: 10055, description: "stream mirror configuration can not be updated")) {
            try StreamManager.checkUpdate(from: mirror, to: &changed)
        }
    }
}
