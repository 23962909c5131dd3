import Zstd

/// A frame read back, checked and decompressed: its record area and where each record lies.
/// Immutable; shared between readers through ``FrameCache``.
final class DecodedFrame: Sendable {
    enum Entry: Sendable {
        case message(MessageRecordView)
        case removal([ClosedRange<UInt64>])
    }

    let header: FrameHeader
    let area: [UInt8]
    let entries: [Entry]

    init(header: FrameHeader, area: [UInt8]) throws {
        self.header = header
        self.area = area
        var entries: [Entry] = []
        entries.reserveCapacity(Int(header.recordCount))
        try area.withUnsafeBytes { (raw) throws in
            var iterator = RecordIterator(area: raw)
            while let item = try iterator.next() {
                switch item {
                case .message(let view): entries.append(.message(view))
                case .removal(let ranges): entries.append(.removal(ranges))
                }
            }
        }
        guard entries.count == Int(header.recordCount) else {
            throw FormatError.invalidField("frame declares \(header.recordCount) records, holds \(entries.count)")
        }
        self.entries = entries
    }

    /// The memory the frame holds (its record area and its table of records), as ``FrameCache`` counts it.
    var cost: Int { area.count + entries.count * MemoryLayout<Entry>.stride + 64 }

    /// The message at record index `index`, or nil when that record is not a message.
    func message(at index: Int) -> StoredMessage? {
        guard index < entries.count, case .message(let view) = entries[index] else { return nil }
        // Headers and payload are slices of the area (one retain, no copy); the subject and id are decoded.
        let (subject, messageID) = area.withUnsafeBytes { raw in
            let records = RecordIterator(area: raw)
            return (records.string(view.subjectRange), view.messageIDRange.isEmpty ? nil : records.string(view.messageIDRange))
        }
        return StoredMessage(sequence: view.sequence, timestamp: view.timestamp, subject: subject,
                             headers: view.headersRange.isEmpty ? [] : area[view.headersRange], payload: area[view.payloadRange],
                             messageID: messageID)
    }

    /// Reads and checks the frame at `offset` of `file`. Returns nil at the exact end of the file.
    static func read(from file: any FileHandle, at offset: Int64, decompressor: Decompressor,
                     dictionaries: FrameDictionaries?) throws -> DecodedFrame? {
        let headerBytes: [UInt8]
        do { headerBytes = try file.read(count: FrameHeader.size, at: offset) } catch { throw StoreError.wrap(error) }
        if headerBytes.isEmpty { return nil }
        do {
            let header = try FrameHeader.decode(headerBytes)
            let body: [UInt8]
            do { body = try file.read(count: Int(header.storedLength), at: offset + Int64(FrameHeader.size)) } catch { throw StoreError.wrap(error) }
            let area = try headerBytes.withUnsafeBytes { (h) throws in
                try body.withUnsafeBytes { (b) throws in try Frame.verify(header: header, headerBytes: h, body: b, decompressor: decompressor, dictionaries: dictionaries) }
            }
            return try DecodedFrame(header: header, area: area)
        } catch let error as FormatError {
            throw StoreError.corrupt(file: file.path, offset: offset, error)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.indexMismatch("\(error)")
        }
    }
}
