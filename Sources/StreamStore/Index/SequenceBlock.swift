import Platform

/// The encoding of one `seqBlocks` value (Specs/IndexSchema.md, "Sequence blocks"): the locations of the held
/// sequences among 32 consecutive ones, `base` to `base + 31` (`base` a multiple of 32, the key).
///
/// A value is a 32-bit little-endian presence mask (bit i: `base + i` is held), then one entry per set bit in
/// sequence order, relative to the entry before it (the first to zeros). Since format 6 (``Layout/flagged``) an
/// entry opens with a flag byte that says which fields repeat the entry before (same frame, next record, same
/// size, same subject) and only the others follow, as LEB128 varints; the timestamp is always there, a zigzag
/// delta. Messages of one frame usually differ in nothing but their record index and time, so such an entry is
/// about 3 bytes. Format 5 (``Layout/deltas``) stored every field (about 7 bytes); it is read only to upgrade.
enum SequenceBlock {
    /// How an entry's fields are laid out.
    enum Layout {
        /// Format 5: segment, frame offset and record index as zigzag deltas, accounted size, timestamp
        /// (zigzag delta), subject id: six varints.
        case deltas
        /// Format 6: a flag byte (``sameFrame``, ``nextRecord``, ``sameSize``, ``sameSubject``; other bits 0),
        /// then segment and frame offset as zigzag deltas unless the same frame, the record index unless the
        /// next one, the accounted size unless the same, the timestamp as a zigzag delta, the subject id unless
        /// the same.
        case flagged
    }

    static let sameFrame: UInt8 = 1
    static let nextRecord: UInt8 = 2
    static let sameSize: UInt8 = 4
    static let sameSubject: UInt8 = 8
    static let knownFlags: UInt8 = 15

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
    private let layout: SequenceBlock.Layout

    /// Throws when the value is shorter than its mask.
    init(base: UInt64, raw: UnsafeRawBufferPointer, layout: SequenceBlock.Layout = .flagged) throws {
        guard let present = SequenceBlock.present(raw) else {
            throw StoreError.indexMismatch("sequence block \(base) is cut short")
        }
        self.raw = raw
        self.base = base
        self.remaining = present
        self.layout = layout
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
        guard let location = layout == .flagged ? flaggedEntry() : deltasEntry() else {
            throw StoreError.indexMismatch("sequence block \(base) has a malformed entry for sequence \(base + bit)")
        }
        previous = location
        return (base + bit, location)
    }

    private mutating func flaggedEntry() -> MessageLocation? {
        guard offset < raw.count else { return nil }
        let flags = raw[offset]
        offset += 1
        guard flags & ~SequenceBlock.knownFlags == 0 else { return nil }
        var location = previous
        if flags & SequenceBlock.sameFrame == 0 {
            guard let segment = varint(), let frameOffset = varint() else { return nil }
            location.segment = previous.segment &+ SequenceBlock.unzigzag(segment)
            location.frameOffset = previous.frameOffset &+ SequenceBlock.unzigzag(frameOffset)
        }
        if flags & SequenceBlock.nextRecord != 0 {
            guard previous.recordIndex < UInt32.max else { return nil }
            location.recordIndex = previous.recordIndex + 1
        } else {
            guard let index = varint(), index <= UInt32.max else { return nil }
            location.recordIndex = UInt32(index)
        }
        if flags & SequenceBlock.sameSize == 0 {
            guard let size = varint(), size <= UInt32.max else { return nil }
            location.accountedSize = UInt32(size)
        }
        guard let timestamp = varint() else { return nil }
        location.timestamp = Int64(bitPattern: UInt64(bitPattern: previous.timestamp) &+ SequenceBlock.unzigzag(timestamp))
        if flags & SequenceBlock.sameSubject == 0 {
            guard let subjectID = varint() else { return nil }
            location.subjectID = subjectID
        }
        return location
    }

    private mutating func deltasEntry() -> MessageLocation? {
        guard let segment = varint(), let frameOffset = varint(), let recordIndex = varint(), let size = varint(),
              let timestamp = varint(), let subjectID = varint(), size <= UInt32.max else { return nil }
        let index = UInt64(previous.recordIndex) &+ SequenceBlock.unzigzag(recordIndex)
        guard index <= UInt32.max else { return nil }
        return MessageLocation(segment: previous.segment &+ SequenceBlock.unzigzag(segment),
                               frameOffset: previous.frameOffset &+ SequenceBlock.unzigzag(frameOffset),
                               recordIndex: UInt32(index), accountedSize: UInt32(size),
                               timestamp: Int64(bitPattern: UInt64(bitPattern: previous.timestamp) &+ SequenceBlock.unzigzag(timestamp)),
                               subjectID: subjectID)
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
    private let layout: SequenceBlock.Layout

    /// An empty block. `layout` is ``SequenceBlock/Layout/flagged`` but for tests that make format-5 blocks.
    init(base: UInt64, layout: SequenceBlock.Layout = .flagged) {
        self.base = base
        self.layout = layout
        bytes = [0, 0, 0, 0]
        bytes.reserveCapacity(256)
    }

    /// An encoder that continues an existing value (the block's entries decoded once to find its last).
    init(continuing raw: UnsafeRawBufferPointer, base: UInt64) throws {
        var decoder = try SequenceBlockDecoder(base: base, raw: raw)
        self.base = base
        self.layout = .flagged
        bytes = Array(raw)
        bytes.reserveCapacity(256)
        while let (sequence, location) = try decoder.next() {
            previous = location
            highest = sequence
        }
    }

    /// An encoder holding `entries` (ascending sequences of this block).
    init(base: UInt64, entries: some Sequence<(UInt64, MessageLocation)>, layout: SequenceBlock.Layout = .flagged) throws {
        self.init(base: base, layout: layout)
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
        switch layout {
        case .flagged:
            let sameFrame = location.segment == previous.segment && location.frameOffset == previous.frameOffset
            let nextRecord = previous.recordIndex < UInt32.max && location.recordIndex == previous.recordIndex + 1
            let sameSize = location.accountedSize == previous.accountedSize
            let sameSubject = location.subjectID == previous.subjectID
            bytes.append((sameFrame ? SequenceBlock.sameFrame : 0) | (nextRecord ? SequenceBlock.nextRecord : 0)
                         | (sameSize ? SequenceBlock.sameSize : 0) | (sameSubject ? SequenceBlock.sameSubject : 0))
            if !sameFrame {
                appendVarint(SequenceBlock.zigzag(location.segment &- previous.segment))
                appendVarint(SequenceBlock.zigzag(location.frameOffset &- previous.frameOffset))
            }
            if !nextRecord { appendVarint(UInt64(location.recordIndex)) }
            if !sameSize { appendVarint(UInt64(location.accountedSize)) }
            appendVarint(SequenceBlock.zigzag(UInt64(bitPattern: location.timestamp) &- UInt64(bitPattern: previous.timestamp)))
            if !sameSubject { appendVarint(location.subjectID) }
        case .deltas:
            appendVarint(SequenceBlock.zigzag(location.segment &- previous.segment))
            appendVarint(SequenceBlock.zigzag(location.frameOffset &- previous.frameOffset))
            appendVarint(SequenceBlock.zigzag(UInt64(location.recordIndex) &- UInt64(previous.recordIndex)))
            appendVarint(UInt64(location.accountedSize))
            appendVarint(SequenceBlock.zigzag(UInt64(bitPattern: location.timestamp) &- UInt64(bitPattern: previous.timestamp)))
            appendVarint(location.subjectID)
        }
        previous = location
        highest = sequence
    }

    @inline(__always) private mutating func appendVarint(_ value: UInt64) { bytes.appendLEB128(value) }
}
