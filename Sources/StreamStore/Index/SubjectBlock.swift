import LMDB
import Platform

/// The encoding of one `subjectBlocks` entry (Specs/IndexSchema.md, "Subject blocks"): up to 64 held
/// sequences of one subject, ascending.
///
/// The key is the subject id then the block's anchor, both u64 big-endian, so that a subject's blocks are
/// adjacent and in sequence order. Every sequence of a block is at or above its anchor and below the next
/// block's anchor; removals never change a key (a block that loses its first sequence keeps its anchor), and a
/// block left empty is deleted. The value is a count byte (1 to 64), then one LEB128 varint per sequence: the
/// first its distance from the anchor, each next one its distance from the one before (at least 1). A
/// subject's messages are often close together, so a sequence costs one or two bytes where a packed
/// duplicate cost eight.
enum SubjectBlock {
    /// The most sequences a block holds.
    static let capacity = 64

    static func key(_ subjectID: UInt64, _ anchor: UInt64) -> InlineBytes {
        var key = InlineBytes()
        key.appendBigEndian(subjectID)
        key.appendBigEndian(anchor)
        return key
    }

    /// The subject id and anchor of a key, or nil when it is not 16 bytes.
    static func decodeKey(_ raw: UnsafeRawBufferPointer) -> (subjectID: UInt64, anchor: UInt64)? {
        raw.count == 16 ? (raw.loadBE(UInt64.self, at: 0), raw.loadBE(UInt64.self, at: 8)) : nil
    }

    /// The count byte of a value, or nil when it is not a count a block can hold.
    static func count(_ raw: UnsafeRawBufferPointer) -> Int? {
        guard let first = raw.first, first >= 1, Int(first) <= capacity else { return nil }
        return Int(first)
    }

    /// The value of a block of `sequences` (ascending, 1 to ``capacity`` of them, the first at or above
    /// `anchor`).
    static func encode(anchor: UInt64, _ sequences: some Collection<UInt64>) -> [UInt8] {
        precondition(!sequences.isEmpty && sequences.count <= capacity, "a subject block holds 1 to \(capacity) sequences")
        var bytes: [UInt8] = [UInt8(sequences.count)]
        bytes.reserveCapacity(1 + 2 * sequences.count)
        var previous = anchor
        for (i, sequence) in sequences.enumerated() {
            precondition(i == 0 ? sequence >= previous : sequence > previous, "a subject block's sequences ascend")
            bytes.appendLEB128(sequence &- previous)
            previous = sequence
        }
        return bytes
    }

    /// The sequences of a block value, ascending. Throws when it is malformed: a bad count, cut short, bytes
    /// left over, or sequences that do not ascend from the anchor.
    static func decode(subjectID: UInt64, anchor: UInt64, _ raw: UnsafeRawBufferPointer) throws -> [UInt64] {
        var sequences: [UInt64] = []
        sequences.reserveCapacity(Int(raw.first ?? 0))
        try forEach(subjectID: subjectID, anchor: anchor, raw) { sequences.append($0); return true }
        return sequences
    }

    /// Calls `body` with a block value's sequences, ascending, without copying them, while it returns true;
    /// returns whether it saw them all. Throws when what it reads is malformed (as ``decode``; bytes left
    /// over are found only by a read to the end).
    @discardableResult
    static func forEach(subjectID: UInt64, anchor: UInt64, _ raw: UnsafeRawBufferPointer, _ body: (UInt64) throws -> Bool) throws -> Bool {
        guard let count = count(raw) else { throw malformed(subjectID, anchor) }
        var offset = 1
        var previous = anchor
        for i in 0..<count {
            guard let delta = raw.readLEB128(at: &offset), i == 0 || delta > 0 else { throw malformed(subjectID, anchor) }
            let (sequence, overflow) = previous.addingReportingOverflow(delta)
            guard !overflow else { throw malformed(subjectID, anchor) }
            previous = sequence
            if try !body(sequence) { return false }
        }
        guard offset == raw.count else { throw malformed(subjectID, anchor) }
        return true
    }

    private static func malformed(_ subjectID: UInt64, _ anchor: UInt64) -> StoreError {
        .indexMismatch("subject block \(anchor) of subject \(subjectID) is malformed")
    }
}
