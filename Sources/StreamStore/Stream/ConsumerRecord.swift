#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

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
    /// The consumer layer's config, as it encodes it (opaque to the store).
    public var config: Data
    /// The consumer layer's full state, as it encodes it (opaque to the store).
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

    /// The record as the `consumers` database stores it (Specs/IndexSchema.md): `0x01`, then little-endian
    /// delivered (u64), ack floor (u64), pending count (u32) and sequences (u64 each), name, config and state
    /// each as a u32 length and bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0x01]
        out.reserveCapacity(32 + pendingSequences.count * 8 + name.utf8.count + config.count + state.count)
        out.appendLE(deliveredStreamSequence)
        out.appendLE(ackFloorStreamSequence)
        out.appendLE(UInt32(pendingSequences.count))
        for sequence in pendingSequences { out.appendLE(sequence) }
        for blob in [Array(name.utf8), Array(config), Array(state)] {
            out.appendLE(UInt32(blob.count))
            out.append(contentsOf: blob)
        }
        return out
    }

    /// Decodes a stored record (also the JSON form of earlier versions).
    public init(decoding bytes: [UInt8]) throws {
        if bytes.first == UInt8(ascii: "{") {
            self = try JSONDecoder().decode(ConsumerRecord.self, from: Data(bytes))
            return
        }
        let damaged = StoreError.indexMismatch("consumer record of \(bytes.count) bytes is damaged")
        guard bytes.first == 0x01, bytes.count >= 21 else { throw damaged }
        let decoded: ConsumerRecord? = bytes.withUnsafeBytes { raw in
            var offset = 1
            func u64() -> UInt64? {
                guard offset + 8 <= raw.count else { return nil }
                defer { offset += 8 }
                return raw.loadLE(UInt64.self, at: offset)
            }
            func blob() -> [UInt8]? {
                guard offset + 4 <= raw.count else { return nil }
                let length = Int(raw.loadLE(UInt32.self, at: offset))
                offset += 4
                guard offset + length <= raw.count else { return nil }
                defer { offset += length }
                return Array(raw[offset..<offset + length])
            }
            guard let delivered = u64(), let floor = u64(), offset + 4 <= raw.count else { return nil }
            let count = Int(raw.loadLE(UInt32.self, at: offset))
            offset += 4
            guard count <= (raw.count - offset) / 8 else { return nil }
            var pending: [UInt64] = []
            pending.reserveCapacity(count)
            for _ in 0..<count { pending.append(u64()!) }
            guard let name = blob(), let config = blob(), let state = blob(), offset == raw.count else { return nil }
            return ConsumerRecord(name: String(decoding: name, as: UTF8.self), deliveredStreamSequence: delivered,
                                  ackFloorStreamSequence: floor, pendingSequences: pending, config: Data(config), state: Data(state))
        }
        guard let decoded else { throw damaged }
        self = decoded
    }
}
