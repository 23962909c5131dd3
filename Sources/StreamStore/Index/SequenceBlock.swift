import Platform

/// The encoding of one `seqBlocks` value (Specs/IndexSchema.md, "Sequence blocks"): the locations of the held
/// sequences among 32 consecutive ones, `base` to `base + 31` (`base` a multiple of 32, the key).
///
/// A value is a 32-bit little-endian presence mask (bit i: `base + i` is held), then one entry per set bit in
/// sequence order, each field a LEB128 varint relative to the entry before it (the first relative to zeros):
/// segment, frame offset, record index and timestamp as zigzag deltas, accounted size and subject id as they
/// are. Messages of one frame differ in little but their record index, so an entry is about 7 bytes where a
/// key of its own cost about 34.
enum SequenceBlock {
    static let span: UInt64 = 32

    @inline(__always) static func base(of sequence: UInt64) -> UInt64 { sequence & ~(span - 1) }
    @inline(__always) static func bit(of sequence: UInt64) -> UInt32 { 1 << UInt32(truncatingIfNeeded: sequence & (span - 1)) }

    /// A difference taken modulo 2^64, zigzag-coded as a signed value.
    @inline(__always) static func zigzag(_ delta: UInt64) -> UInt64 { LEB128.zigzag(Int64(bitPattern: delta)) }

    @inline(__always) static func unzigzag(_ raw: UInt64) -> UInt64 { UInt64(bitPattern: LEB128.unzigzag(raw)) }

    /// The held sequences of a block value (its mask's set bits), or nil when the value is too short.
    static func present(_ raw: UnsafeRawBufferPointer) -> UInt32? {
        raw.count >= 4 ? raw.loadLE(UInt32.self, at: 0) : nil
    }

    static let zero = MessageLocation(segment: 0, frameOffset: 0, recordIndex: 0, accountedSize: 0, timestamp: 0, subjectID: 0)
}

/// Reads a block value's entries in sequence order, without copying it.
struct SequenceBlockDecoder {
    private let raw: UnsafeRawBufferPointer
    let base: UInt64
    /// The set bits not yet decoded.
    private var remaining: UInt32
    private var offset = 4
    private var previous = SequenceBlock.zero

    /// Throws when the value is shorter than its mask.
    init(base: UInt64, raw: UnsafeRawBufferPointer) throws {
        guard let present = SequenceBlock.present(raw) else {
            throw StoreError.indexMismatch("sequence block \(base) is cut short")
        }
        self.raw = raw
        self.base = base
        self.remaining = present
    }

    /// The next held sequence and its location; nil past the last. Throws when the value is malformed
    /// (cut short, or bytes left over after the last entry).
    mutating func next() throws -> (UInt64, MessageLocation)? {
        guard remaining != 0 else {
            guard offset == raw.count else { throw StoreError.indexMismatch("sequence block \(base) has bytes left over") }
            return nil
        }
        let bit = UInt64(remaining.trailingZeroBitCount)
        remaining &= remaining - 1
        guard let segment = varint(), let frameOffset = varint(), let recordIndex = varint(), let size = varint(),
              let timestamp = varint(), let subjectID = varint(), size <= UInt32.max else {
            throw StoreError.indexMismatch("sequence block \(base) has a malformed entry for sequence \(base + bit)")
        }
        let index = UInt64(previous.recordIndex) &+ SequenceBlock.unzigzag(recordIndex)
        guard index <= UInt32.max else {
            throw StoreError.indexMismatch("sequence block \(base) has a malformed entry for sequence \(base + bit)")
        }
        previous = MessageLocation(segment: previous.segment &+ SequenceBlock.unzigzag(segment),
                                   frameOffset: previous.frameOffset &+ SequenceBlock.unzigzag(frameOffset),
                                   recordIndex: UInt32(index), accountedSize: UInt32(size),
                                   timestamp: Int64(bitPattern: UInt64(bitPattern: previous.timestamp) &+ SequenceBlock.unzigzag(timestamp)),
                                   subjectID: subjectID)
        return (base + bit, previous)
    }

    /// Every entry (the whole block checked).
    mutating func all() throws -> [(UInt64, MessageLocation)] {
        var entries: [(UInt64, MessageLocation)] = []
        entries.reserveCapacity(remaining.nonzeroBitCount)
        while let entry = try next() { entries.append(entry) }
        return entries
    }

    @inline(__always) private mutating func varint() -> UInt64? { raw.readLEB128(at: &offset) }
}

/// Builds a block value by appending entries in sequence order.
struct SequenceBlockEncoder {
    let base: UInt64
    private(set) var bytes: [UInt8]
    private var previous = SequenceBlock.zero
    private var highest: UInt64?

    init(base: UInt64) {
        self.base = base
        bytes = [0, 0, 0, 0]
        bytes.reserveCapacity(256)
    }

    /// An encoder that continues an existing value (the block's entries decoded once to find its last).
    init(continuing raw: UnsafeRawBufferPointer, base: UInt64) throws {
        var decoder = try SequenceBlockDecoder(base: base, raw: raw)
        self.base = base
        bytes = Array(raw)
        bytes.reserveCapacity(256)
        while let (sequence, location) = try decoder.next() {
            previous = location
            highest = sequence
        }
    }

    /// An encoder holding `entries` (ascending sequences of this block).
    init(base: UInt64, entries: some Sequence<(UInt64, MessageLocation)>) throws {
        self.init(base: base)
        for (sequence, location) in entries { try append(sequence, location) }
    }

    var isEmpty: Bool { highest == nil }

    /// Appends `sequence` (of this block, above every sequence appended before) at `location`.
    /// Throws when `sequence` is of another block or not above the last appended.
    mutating func append(_ sequence: UInt64, _ location: MessageLocation) throws {
        guard SequenceBlock.base(of: sequence) == base, highest.map({ sequence > $0 }) ?? true else {
            throw StoreError.indexMismatch("sequence \(sequence) is not above the held sequences of its block \(base)")
        }
        bytes.storeLE(bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: 0) } | SequenceBlock.bit(of: sequence), at: 0)
        appendVarint(SequenceBlock.zigzag(location.segment &- previous.segment))
        appendVarint(SequenceBlock.zigzag(location.frameOffset &- previous.frameOffset))
        appendVarint(SequenceBlock.zigzag(UInt64(location.recordIndex) &- UInt64(previous.recordIndex)))
        appendVarint(UInt64(location.accountedSize))
        appendVarint(SequenceBlock.zigzag(UInt64(bitPattern: location.timestamp) &- UInt64(bitPattern: previous.timestamp)))
        appendVarint(location.subjectID)
        previous = location
        highest = sequence
    }

    @inline(__always) private mutating func appendVarint(_ value: UInt64) { bytes.appendLEB128(value) }
}
