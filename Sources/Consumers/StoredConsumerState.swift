#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// What a consumer record's state blob holds: the consumer's creation time and its ``ConsumerState``,
/// in a compact binary form (Specs/ConsumerStateMachine.md, "Persisted state"), because the state is
/// written up to every 10 ms under load and JSON cost more than the rest of an acknowledgement.
///
/// Layout: `0xC5 0x01`, then unsigned LEB128 varints (signed values zigzag-encoded): created,
/// delivered (consumer, stream), ack floor (consumer, stream), pending count, and per pending message in
/// stream order: stream sequence as a delta from the previous one, consumer sequence, delivered at,
/// deliveries, deadline; redelivery queue count and sequences; initial sequences count and sequences
/// (count 0 = none). Decoding also accepts the JSON `{"created","state"}` written before this format.
public struct StoredConsumerState: Equatable, Sendable {
    public var created: Int64
    public var state: ConsumerState

    public init(created: Int64, state: ConsumerState) {
        self.created = created
        self.state = state
    }

    private static let magic: [UInt8] = [0xC5, 0x01]

    public func encoded() -> [UInt8] { encoded(pendingInOrder: state.pending.keys.sorted()) }

    /// The same, given the pending stream sequences already sorted: exactly `state.pending`'s keys, ascending
    /// (a save needs them sorted for its record too, and sorts once).
    public func encoded(pendingInOrder: [UInt64]) -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(48 + state.pending.count * 16)
        out.appendVarint(created)
        out.appendVarint(state.delivered.consumerSeq)
        out.appendVarint(state.delivered.streamSeq)
        out.appendVarint(state.ackFloor.consumerSeq)
        out.appendVarint(state.ackFloor.streamSeq)
        out.appendVarint(UInt64(state.pending.count))
        var previous: UInt64 = 0
        for sequence in pendingInOrder {
            let pending = state.pending[sequence]!  // (the keys of `state.pending`, as the caller guarantees)
            out.appendVarint(sequence - previous)
            previous = sequence
            out.appendVarint(pending.consumerSeq)
            out.appendVarint(pending.deliveredAt)
            out.appendVarint(UInt64(max(pending.deliveries, 0)))
            out.appendVarint(pending.deadline)
        }
        out.appendVarint(UInt64(state.redeliveryQueue.count))
        for sequence in state.redeliveryQueue { out.appendVarint(sequence) }
        let initial = state.initialSequences ?? []
        out.appendVarint(UInt64(initial.count))
        for sequence in initial { out.appendVarint(sequence) }
        return out
    }

    /// Decodes either form; nil when the bytes are neither (damaged or from an unknown version).
    public init?(decoding bytes: [UInt8]) {
        if bytes.first == UInt8(ascii: "{") {
            struct Legacy: Decodable { var created: Int64; var state: ConsumerState }
            // (try?: a record that does not decode is nil, and the broker names it)
            guard let legacy = try? JSONDecoder().decode(Legacy.self, from: Data(bytes)) else { return nil }
            self.init(created: legacy.created, state: legacy.state)
            return
        }
        guard bytes.starts(with: Self.magic) else { return nil }
        var reader = VarintReader(bytes: bytes, position: Self.magic.count)
        guard let created = reader.signed(), let dc = reader.unsigned(), let ds = reader.unsigned(),
              let ac = reader.unsigned(), let asq = reader.unsigned(), let count = reader.unsigned() else { return nil }
        var state = ConsumerState()
        state.delivered = .init(consumerSeq: dc, streamSeq: ds)
        state.ackFloor = .init(consumerSeq: ac, streamSeq: asq)
        var sequence: UInt64 = 0
        for _ in 0..<count {
            guard let delta = reader.unsigned(), let consumerSeq = reader.unsigned(), let deliveredAt = reader.signed(),
                  let deliveries = reader.unsigned(), let deadline = reader.signed() else { return nil }
            // (damaged bytes may hold any value: a sum past UInt64 or a count past Int is damage, not a trap)
            let (next, overflow) = sequence.addingReportingOverflow(delta)
            guard !overflow, deliveries <= UInt64(Int.max) else { return nil }
            sequence = next
            state.pending[sequence] = .init(consumerSeq: consumerSeq, deliveredAt: deliveredAt, deliveries: Int(deliveries), deadline: deadline)
        }
        guard let queued = reader.unsigned() else { return nil }
        for _ in 0..<queued {
            guard let value = reader.unsigned() else { return nil }
            state.redeliveryQueue.append(value)
        }
        guard let initialCount = reader.unsigned() else { return nil }
        var initial: [UInt64] = []
        for _ in 0..<initialCount {
            guard let value = reader.unsigned() else { return nil }
            initial.append(value)
        }
        state.initialSequences = initial.isEmpty ? nil : initial
        guard reader.position == bytes.count else { return nil }
        self.init(created: created, state: state)
    }
}

extension Array where Element == UInt8 {
    mutating func appendVarint(_ value: UInt64) { appendLEB128(value) }

    mutating func appendVarint(_ value: Int64) { appendLEB128(LEB128.zigzag(value)) }
}

/// Reads LEB128 varints; nil past the end or on an over-long encoding.
struct VarintReader {
    let bytes: [UInt8]
    var position: Int

    mutating func unsigned() -> UInt64? {
        bytes.withUnsafeBytes { $0.readLEB128(at: &position) }
    }

    mutating func signed() -> Int64? { unsigned().map(LEB128.unzigzag) }
}
