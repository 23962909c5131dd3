/// One record of a frame's record area (Specs/SegmentFormat.md, "Records").
public enum Record: Equatable, Sendable {
    /// A message (kind 1).
    case message(StoredMessage)
    /// Removal of sequences (kind 2): inclusive ranges.
    case removal([ClosedRange<UInt64>])

    static let messageKind: UInt8 = 1
    static let removalKind: UInt8 = 2
    static let messageHeaderSize = 32

    /// Appends the encoding of a message record to `area`.
    static func appendMessage(sequence: UInt64, timestamp: Int64, subject: String, messageID: String?,
                              headers: some Collection<UInt8>, payload: some Collection<UInt8>, to area: inout [UInt8]) {
        let subjectBytes = subject.utf8
        let idBytes = messageID?.utf8
        area.reserveCapacity(area.count + messageHeaderSize + subjectBytes.count + (idBytes?.count ?? 0) + headers.count + payload.count)
        area.append(messageKind)
        area.append(0)
        area.appendLE(UInt16(subjectBytes.count))
        area.appendLE(UInt32(headers.count))
        area.appendLE(UInt32(payload.count))
        area.appendLE(UInt16(idBytes?.count ?? 0))
        area.appendLE(UInt16(0))
        area.appendLE(sequence)
        area.appendLE(timestamp)
        area.append(contentsOf: subjectBytes)
        if let idBytes { area.append(contentsOf: idBytes) }
        area.append(contentsOf: headers)
        area.append(contentsOf: payload)
    }

    static func appendRemoval(_ ranges: [ClosedRange<UInt64>], to area: inout [UInt8]) {
        area.append(removalKind)
        area.append(contentsOf: [0, 0, 0])
        area.appendLE(UInt32(ranges.count))
        for range in ranges {
            area.appendLE(range.lowerBound)
            area.appendLE(range.upperBound)
        }
    }

    /// Appends this record's encoding to `area`.
    func encode(to area: inout [UInt8]) {
        switch self {
        case .message(let m):
            Record.appendMessage(sequence: m.sequence, timestamp: m.timestamp, subject: m.subject,
                                 messageID: m.messageID, headers: m.headers, payload: m.payload, to: &area)
        case .removal(let ranges):
            Record.appendRemoval(ranges, to: &area)
        }
    }
}

/// A message record's fixed fields and where its variable parts lie in the record area, decoded
/// without copying (used by the index builder, which needs no payloads).
struct MessageRecordView {
    var sequence: UInt64
    var timestamp: Int64
    var subjectRange: Range<Int>
    var messageIDRange: Range<Int>
    var headersRange: Range<Int>
    var payloadRange: Range<Int>
    var accountedSize: UInt64 {
        StoredMessage.fileAccountedSize(subject: subjectRange.count, headers: headersRange.count, payload: payloadRange.count)
    }
}

/// Walks a record area record by record.
struct RecordIterator {
    enum Item {
        case message(MessageRecordView)
        case removal([ClosedRange<UInt64>])
    }

    let area: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(area: UnsafeRawBufferPointer) { self.area = area }

    var isAtEnd: Bool { offset >= area.count }

    /// The next record, or nil at the end of the area; throws when the bytes do not parse.
    mutating func next() throws -> Item? {
        if offset >= area.count { return nil }
        let kind = area[offset]
        switch kind {
        case Record.messageKind:
            guard area.count - offset >= Record.messageHeaderSize else {
                throw FormatError.truncated(needed: Record.messageHeaderSize, available: area.count - offset)
            }
            let s = Int(area.loadLE(UInt16.self, at: offset + 2))
            let h = Int(area.loadLE(UInt32.self, at: offset + 4))
            let p = Int(area.loadLE(UInt32.self, at: offset + 8))
            let m = Int(area.loadLE(UInt16.self, at: offset + 12))
            let start = offset + Record.messageHeaderSize
            let end = start + s + m + h + p
            guard end <= area.count else { throw FormatError.truncated(needed: end - offset, available: area.count - offset) }
            let view = MessageRecordView(
                sequence: area.loadLE(UInt64.self, at: offset + 16),
                timestamp: area.loadLE(Int64.self, at: offset + 24),
                subjectRange: start..<(start + s),
                messageIDRange: (start + s)..<(start + s + m),
                headersRange: (start + s + m)..<(start + s + m + h),
                payloadRange: (start + s + m + h)..<end)
            offset = end
            return .message(view)
        case Record.removalKind:
            guard area.count - offset >= 8 else { throw FormatError.truncated(needed: 8, available: area.count - offset) }
            let n = Int(area.loadLE(UInt32.self, at: offset + 4))
            let end = offset + 8 + 16 * n
            guard n <= 1 << 26, end <= area.count else { throw FormatError.truncated(needed: 8 + 16 * n, available: area.count - offset) }
            var ranges: [ClosedRange<UInt64>] = []
            ranges.reserveCapacity(n)
            for i in 0..<n {
                let lo = area.loadLE(UInt64.self, at: offset + 8 + 16 * i)
                let hi = area.loadLE(UInt64.self, at: offset + 16 + 16 * i)
                guard lo <= hi else { throw FormatError.invalidField("removal range \(lo)...\(hi) is reversed") }
                ranges.append(lo...hi)
            }
            offset = end
            return .removal(ranges)
        default:
            throw FormatError.invalidField("record kind \(kind) at offset \(offset)")
        }
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: area[range]), as: UTF8.self)
    }

    func bytes(_ range: Range<Int>) -> [UInt8] { Array(area[range]) }

    func message(_ view: MessageRecordView) -> StoredMessage {
        StoredMessage(sequence: view.sequence, timestamp: view.timestamp, subject: string(view.subjectRange),
                      headers: bytes(view.headersRange), payload: bytes(view.payloadRange),
                      messageID: view.messageIDRange.isEmpty ? nil : string(view.messageIDRange))
    }

    /// Decodes every record of an area (tests, tools).
    static func decodeAll(_ area: [UInt8]) throws -> [Record] {
        try area.withUnsafeBytes { (raw) throws in
            var iterator = RecordIterator(area: raw)
            var records: [Record] = []
            while let item = try iterator.next() {
                switch item {
                case .message(let view): records.append(.message(iterator.message(view)))
                case .removal(let ranges): records.append(.removal(ranges))
                }
            }
            return records
        }
    }
}
