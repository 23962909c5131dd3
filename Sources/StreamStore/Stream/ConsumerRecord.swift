import Foundation

/// A consumer as the store keeps it, in the stream's LMDB environment (`consumers` database, keyed by
/// name): the positions the storage layer can check (verify, repair), plus the consumer layer's own
/// encoding of its config and full state, which the store does not interpret.
public struct ConsumerRecord: Codable, Equatable, Sendable {
    public var name: String
    /// Highest stream sequence delivered.
    public var deliveredStreamSequence: UInt64
    /// Every stream sequence at or below is acknowledged.
    public var ackFloorStreamSequence: UInt64
    /// Delivered, unacknowledged stream sequences.
    public var pendingSequences: [UInt64]
    /// The consumer layer's config, as it encodes it (JSON; base64 in the record).
    public var config: Data
    /// The consumer layer's full state, as it encodes it (JSON; base64 in the record).
    public var state: Data

    public init(name: String, deliveredStreamSequence: UInt64, ackFloorStreamSequence: UInt64, pendingSequences: [UInt64],
                config: Data, state: Data) {
        self.name = name
        self.deliveredStreamSequence = deliveredStreamSequence
        self.ackFloorStreamSequence = ackFloorStreamSequence
        self.pendingSequences = pendingSequences
        self.config = config
        self.state = state
    }

    /// What is inconsistent about the record for a stream whose last sequence is `lastSequence`, or nil.
    public func problem(lastSequence: UInt64) -> String? {
        if ackFloorStreamSequence > deliveredStreamSequence {
            return "ack floor \(ackFloorStreamSequence) is above delivered \(deliveredStreamSequence)"
        }
        if deliveredStreamSequence > lastSequence {
            return "delivered \(deliveredStreamSequence) is past the stream's last sequence \(lastSequence)"
        }
        if let bad = pendingSequences.first(where: { $0 <= ackFloorStreamSequence || $0 > deliveredStreamSequence }) {
            return "pending sequence \(bad) is outside (\(ackFloorStreamSequence), \(deliveredStreamSequence)]"
        }
        return nil
    }
}
