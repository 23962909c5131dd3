/// The 32-byte header at the start of every segment file (Specs/SegmentFormat.md, "Segment file").
public struct SegmentHeader: Equatable, Sendable {
    public static let size = 32
    public static let magic: [UInt8] = Array("STRATSEG".utf8)
    public static let currentVersion: UInt16 = 1

    /// The lowest sequence the segment may hold; also the segment's name.
    public var firstSequence: UInt64
    public var version: UInt16 = SegmentHeader.currentVersion

    public init(firstSequence: UInt64) { self.firstSequence = firstSequence }

    public func encoded() -> [UInt8] {
        var bytes = SegmentHeader.magic
        bytes.reserveCapacity(SegmentHeader.size)
        bytes.appendLE(version)
        bytes.appendLE(UInt16(0))
        bytes.appendLE(UInt32(0))
        bytes.appendLE(firstSequence)
        bytes.appendLE(UInt32(0))
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// Decodes and checks a header.
    public static func decode(_ bytes: [UInt8]) throws -> SegmentHeader {
        guard bytes.count >= size else { throw FormatError.truncated(needed: size, available: bytes.count) }
        guard Array(bytes[0..<8]) == magic else { throw FormatError.badMagic }
        return try bytes.withUnsafeBytes { (raw) throws in
            let stored = raw.loadLE(UInt32.self, at: 28)
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
            guard stored == actual else { throw FormatError.checksumMismatch(expected: stored, actual: actual) }
            let version = raw.loadLE(UInt16.self, at: 8)
            guard version == currentVersion else { throw FormatError.unsupportedVersion(version) }
            return SegmentHeader(firstSequence: raw.loadLE(UInt64.self, at: 16))
        }
    }

    /// The file name of the segment that starts at `firstSequence`.
    public static func fileName(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    /// The first sequence named by a segment file name, or nil when it is not one.
    public static func firstSequence(fileName: String) -> UInt64? {
        guard fileName.hasSuffix(".seg"), fileName.count == 24 else { return nil }
        return UInt64(fileName.prefix(20))
    }
}

/// Why bytes could not be decoded as the format says.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the structure needs.
    case truncated(needed: Int, available: Int)
    /// The magic number is wrong: not a segment or frame, or not at a frame boundary.
    case badMagic
    /// The stored CRC32C differs from the one computed.
    case checksumMismatch(expected: UInt32, actual: UInt32)
    /// A format version this build does not know.
    case unsupportedVersion(UInt16)
    /// A field holds a value the format does not allow.
    case invalidField(String)
    /// The body did not decompress.
    case decompressionFailed(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: needs \(needed) bytes, \(available) available"
        case .badMagic: "bad magic number"
        case .checksumMismatch(let e, let a):
            "CRC32C mismatch: stored 0x\(String(e, radix: 16)), computed 0x\(String(a, radix: 16))"
        case .unsupportedVersion(let v): "unsupported format version \(v)"
        case .invalidField(let what): "invalid field: \(what)"
        case .decompressionFailed(let why): "decompression failed: \(why)"
        }
    }
}
