#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Consumers
import LMDB
@testable import StreamStore
import Zstd

/// Seeds for the targets whose inputs are on-disk encodings, made with the encoders the store itself writes
/// with (`strata-fuzz --write-seeds <corpus>`; the client traffic seeds come from Tools/fuzz/capture_seeds.py and
/// the config seeds from the parser's golden files). Deterministic: the same seeds every run.
public enum SeedInputs {
    public static func all() -> [FuzzTarget: [[UInt8]]] {
        var seeds: [FuzzTarget: [[UInt8]]] = [:]
        var messages: [StoredMessage] = []
        for i in 1...6 {
            let headers: [UInt8] = i % 2 == 0 ? Array("NATS/1.0\r\nNats-Msg-Id: m\(i)\r\n\r\n".utf8) : []
            let payload = Array("{\"order\":\(i),\"item\":\"widget\",\"qty\":\(i * 7)}".utf8)
            let id: String? = i % 2 == 0 ? "m\(i)" : nil
            messages.append(StoredMessage(sequence: UInt64(i), timestamp: 1_700_000_000_000_000_000 + Int64(i), subject: "orders.\(i % 3)",
                                          headers: headers, payload: payload, messageID: id))
        }
        var areas: [[UInt8]] = []
        for group in [Array(messages[0..<1]), Array(messages[1..<4]), Array(messages[4...])] {
            var area: [UInt8] = []
            for message in group { Record.message(message).encode(to: &area) }
            areas.append(area)
        }
        var removal: [UInt8] = []
        Record.removal([2...3, 5...5]).encode(to: &removal)
        areas.append(removal)
        var everything: [UInt8] = []
        for message in messages { Record.message(message).encode(to: &everything) }
        Record.removal([1...1]).encode(to: &everything)
        seeds[.records] = areas + [everything]
        // Segments: a header and frames, plain and compressed (the last byte's parity asks for CRC repair).
        let compressor = Compressor()
        var segments: [[UInt8]] = []
        for (index, codec) in [nil, compressor].enumerated() {
            var segment = SegmentHeader(firstSequence: 1).encoded()
            for area in areas { segment += (try? Frame.encode(recordArea: area, recordCount: area == removal ? 1 : count(area), compressor: codec)) ?? [] }
            segments.append(segment + [UInt8(index * 2)])
            segments.append(segment + [1])
        }
        segments.append(SegmentHeader(firstSequence: 1_000_001).encoded())
        seeds[.segment] = segments
        // Consumer state (selector 0) and consumer records (selector 1).
        var state = ConsumerState()
        state.delivered = .init(consumerSeq: 9, streamSeq: 12)
        state.ackFloor = .init(consumerSeq: 4, streamSeq: 5)
        state.pending = [7: .init(consumerSeq: 6, deliveredAt: 1_700_000_000_000_000_000, deliveries: 2, deadline: 1_700_000_030_000_000_000),
                         11: .init(consumerSeq: 8, deliveredAt: 1_700_000_001_000_000_000, deliveries: 1, deadline: 1_700_000_031_000_000_000)]
        state.redeliveryQueue = [7]
        var filtered = state
        filtered.initialSequences = [5, 7, 11]
        let record = ConsumerRecord(name: "worker", deliveredStreamSequence: 12, ackFloorStreamSequence: 5, pendingSequences: [7, 11],
                                    config: Data(#"{"durable_name":"worker","ack_policy":"explicit"}"#.utf8), state: Data(StoredConsumerState(created: 1, state: state).encoded()))
        seeds[.consumerState] = [
            [0] + StoredConsumerState(created: 1_700_000_000_000_000_000, state: state).encoded(),
            [0] + StoredConsumerState(created: 0, state: filtered).encoded(),
            [0] + StoredConsumerState(created: 0, state: ConsumerState()).encoded(),
            [0] + Array(#"{"created":5,"state":{"delivered":{"consumerSeq":1,"streamSeq":1},"ackFloor":{"consumerSeq":1,"streamSeq":1},"pending":{},"redeliveryQueue":[]}}"#.utf8),
            [1] + record.encoded(),
        ]
        // Index values: a location (selector 0), markers (1), the stream state (2), a subject entry (3).
        let location = MessageLocation(segment: 1, frameOffset: 4_096, recordIndex: 3, accountedSize: 310,
                                       timestamp: 1_700_000_000_000_000_000, subjectID: 42)
        var persistent = PersistentState()
        persistent.stream.messages = 6; persistent.stream.bytes = 1_860; persistent.stream.firstSequence = 1
        persistent.stream.lastSequence = 6; persistent.stream.subjects = 3; persistent.nextSubjectID = 4
        let marker = IndexMarker(segment: 1, lastFrameOffset: 200, endOffset: 420, lastFrameCRC: 0xDEAD_BEEF, unsyncedFrom: 300)
        seeds[.index] = [
            [0] + location.encoded().withBytes { Array($0) },
            [1] + marker.encoded(),
            [1] + Array(marker.encoded()[0..<28]),
            [2] + persistent.encoded(),
            [3] + SubjectEntry(id: 42, count: 3, lastSequence: 6).encoded().withBytes { Array($0) },
        ]
        return seeds
    }

    private static func count(_ area: [UInt8]) -> Int { (try? RecordIterator.decodeAll(area).count) ?? 0 }
}
