import Zstd

/// A frame's 32-byte header (Specs/SegmentFormat.md, "Frame").
public struct FrameHeader: Equatable, Sendable {
    public static let size = 32
    public static let magic: UInt32 = 0x4D52_4653
    public static let maxRecords = 65_536

    public enum Codec: UInt8, Sendable { case none = 0, zstd = 1 }

    public var codec: Codec
    public var dictionaryID: UInt32
    public var recordCount: UInt32
    public var rawLength: UInt32
    public var storedLength: UInt32
    public var crc: UInt32

    /// Total bytes of the frame on disk.
    public var frameLength: Int { FrameHeader.size + Int(storedLength) }

    /// Decodes the header fields; the CRC is checked by ``Frame/verify(header:body:)``.
    public static func decode(_ raw: UnsafeRawBufferPointer) throws -> FrameHeader {
        guard raw.count >= size else { throw FormatError.truncated(needed: size, available: raw.count) }
        guard raw.loadLE(UInt32.self, at: 0) == magic else { throw FormatError.badMagic }
        guard let codec = Codec(rawValue: raw[4]) else { throw FormatError.invalidField("codec \(raw[4])") }
        let header = FrameHeader(codec: codec, dictionaryID: raw.loadLE(UInt32.self, at: 8),
                                 recordCount: raw.loadLE(UInt32.self, at: 12), rawLength: raw.loadLE(UInt32.self, at: 16),
                                 storedLength: raw.loadLE(UInt32.self, at: 20), crc: raw.loadLE(UInt32.self, at: 28))
        guard header.rawLength <= UInt32(Int32.max), header.storedLength <= UInt32(Int32.max),
              header.recordCount <= maxRecords else { throw FormatError.invalidField("frame lengths out of range") }
        if codec == .none && header.rawLength != header.storedLength {
            throw FormatError.invalidField("uncompressed frame with raw \(header.rawLength) != stored \(header.storedLength)")
        }
        return header
    }

    public static func decode(_ bytes: [UInt8]) throws -> FrameHeader {
        try bytes.withUnsafeBytes { (raw) throws in try decode(raw) }
    }

    /// The 28 bytes covered by the CRC, in order.
    func prefix() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(FrameHeader.size)
        bytes.appendLE(FrameHeader.magic)
        bytes.append(codec.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendLE(dictionaryID)
        bytes.appendLE(recordCount)
        bytes.appendLE(rawLength)
        bytes.appendLE(storedLength)
        bytes.appendLE(UInt32(0))
        return bytes
    }
}

/// Builds and checks frames.
public enum Frame {
    /// Encodes a record area as a frame, compressing with `compressor` when given and when that makes it
    /// smaller.
    /// With `dictionary` (its id and itself), the body is compressed with it and the header names it.
    public static func encode(recordArea: [UInt8], recordCount: Int, compressor: Compressor?,
                              dictionary: (id: UInt32, dictionary: Dictionary)? = nil) throws -> [UInt8] {
        var body: [UInt8] = []
        var codec = FrameHeader.Codec.none
        if let compressor {
            try recordArea.withUnsafeBytes { (raw) throws in
                try compressor.compress(raw, dictionary: dictionary?.dictionary, appendingTo: &body)
            }
            if body.count < recordArea.count { codec = .zstd } else { body = [] }
        }
        let stored = codec == .zstd ? body : recordArea
        let header = FrameHeader(codec: codec, dictionaryID: codec == .zstd ? dictionary?.id ?? 0 : 0, recordCount: UInt32(recordCount),
                                 rawLength: UInt32(recordArea.count), storedLength: UInt32(stored.count), crc: 0)
        var frame = header.prefix()
        frame.reserveCapacity(FrameHeader.size + stored.count)
        let crc = CRC32C.checksum(stored, extending: CRC32C.checksum(frame))
        frame.appendLE(crc)
        frame.append(contentsOf: stored)
        return frame
    }

    /// Checks a frame's CRC and returns its record area (decompressed when needed, with the dictionary
    /// its header names, from `dictionaries`).
    public static func verify(header: FrameHeader, headerBytes: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
                              decompressor: Decompressor, dictionaries: FrameDictionaries? = nil) throws -> [UInt8] {
        guard body.count == Int(header.storedLength) else {
            throw FormatError.truncated(needed: Int(header.storedLength), available: body.count)
        }
        let actual = CRC32C.checksum(body, extending: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: headerBytes[0..<28])))
        guard actual == header.crc else { throw FormatError.checksumMismatch(expected: header.crc, actual: actual) }
        switch header.codec {
        case .none:
            return Array(body)
        case .zstd:
            var dictionary: Dictionary?
            if header.dictionaryID != 0 {
                guard let dictionaries else { throw FormatError.decompressionFailed("frame needs dictionary \(header.dictionaryID)") }
                do { dictionary = try dictionaries.dictionary(header.dictionaryID) } catch let error as FormatError { throw error } catch {
                    throw FormatError.decompressionFailed("dictionary \(header.dictionaryID): \(error)")
                }
            }
            // The zstd frame's own header declares its size: a frame header whose raw length disagrees (damage behind
            // a matching CRC, or a crafted file) is refused before room for it is allocated (up to 2 GiB otherwise).
            guard Decompressor.declaredContentSize(of: body) == UInt64(header.rawLength) else {
                throw FormatError.decompressionFailed("frame declares \(header.rawLength) raw bytes, its zstd body \(Decompressor.declaredContentSize(of: body).map(String.init) ?? "does not say")")
            }
            do {
                // (not zeroed first: the decompressor fills exactly rawLength bytes or throws)
                return try [UInt8](unsafeUninitializedCapacity: Int(header.rawLength)) { (dst, initialized) throws in
                    try decompressor.decompress(body, size: Int(header.rawLength), into: UnsafeMutableRawBufferPointer(dst), dictionary: dictionary)
                    initialized = Int(header.rawLength)
                }
            } catch {
                throw FormatError.decompressionFailed("\(error)")
            }
        }
    }

    /// Decodes a whole frame held in `bytes` (tests, tools).
    public static func decode(_ bytes: [UInt8], decompressor: Decompressor = Decompressor()) throws -> (FrameHeader, [Record]) {
        let (header, area) = try bytes.withUnsafeBytes { (raw) throws -> (FrameHeader, [UInt8]) in
            let header = try FrameHeader.decode(raw)
            let end = FrameHeader.size + Int(header.storedLength)
            guard raw.count >= end else { throw FormatError.truncated(needed: end, available: raw.count) }
            let area = try verify(header: header, headerBytes: raw, body: UnsafeRawBufferPointer(rebasing: raw[FrameHeader.size..<end]),
                                  decompressor: decompressor)
            return (header, area)
        }
        let records = try RecordIterator.decodeAll(area)
        guard records.count == Int(header.recordCount) else {
            throw FormatError.invalidField("frame declares \(header.recordCount) records, holds \(records.count)")
        }
        return (header, records)
    }
}
