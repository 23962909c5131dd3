#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Zstd

/// A stream's zstd dictionaries (Specs/SegmentFormat.md, "Dictionaries"): `dict/<id>.dict` files in the
/// stream directory, each written once, durably, before the first frame that names its id. Frames name a
/// dictionary by id in their header; this resolves ids for every reader of the stream (the store, recovery,
/// compaction and the offline tools) and keeps each dictionary loaded once. Thread-safe.
public final class FrameDictionaries: @unchecked Sendable {
    /// The file header: magic `STRADICT`, version (2) = 1, reserved (2), id (4), length (4), CRC32C (4) of
    /// header bytes 0..<20 followed by the dictionary bytes.
    static let headerSize = 24
    static let magic = Array("STRADICT".utf8)

    let directory: String
    private let fileSystem: any FileSystem
    private let lock = Lock()
    private var loaded: [UInt32: Dictionary] = [:]

    init(directory: String, fileSystem: any FileSystem) {
        self.directory = directory
        self.fileSystem = fileSystem
    }

    func path(_ id: UInt32) -> String { directory + "/\(id).dict" }

    /// The dictionary with `id`; throws when its file is missing or damaged (the frames that use it
    /// cannot be read).
    func dictionary(_ id: UInt32) throws -> Dictionary {
        lock.lock()
        if let known = loaded[id] { lock.unlock(); return known }
        lock.unlock()
        let bytes: [UInt8]
        do {
            let file = try fileSystem.openForReading(path(id))
            bytes = try file.read(count: Int(try file.size()), at: 0)
        } catch {
            throw FormatError.decompressionFailed("dictionary \(id) is missing (\(path(id)))")
        }
        let dictionary = try Dictionary(bytes: try Self.decodeFile(bytes, id: id))
        lock.lock()
        defer { lock.unlock() }
        loaded[id] = dictionary
        return dictionary
    }

    /// The ids of the dictionary files present, ascending.
    func ids() -> [UInt32] {
        // (try?: no readable dict/ directory means no dictionaries; frames that name one report it missing)
        guard fileSystem.isDirectory(directory), let names = try? fileSystem.contentsOfDirectory(directory) else { return [] }
        return names.compactMap { name in name.hasSuffix(".dict") ? UInt32(name.dropLast(5)) : nil }.sorted()
    }

    /// Stores a new dictionary under the next free id; it is on disk (file and directory entry synced)
    /// when this returns.
    func add(_ bytes: [UInt8]) throws -> (id: UInt32, dictionary: Dictionary) {
        let id = (ids().last ?? 0) + 1
        let dictionary = try Dictionary(bytes: bytes)
        if !fileSystem.isDirectory(directory) {
            try fileSystem.createDirectory(directory)
            // The new directory's own entry must be durable too.
            if let slash = directory.lastIndex(of: "/") { try fileSystem.syncDirectory(String(directory[..<slash])) }
        }
        let temporary = path(id) + ".tmp"
        let file = try fileSystem.open(temporary, create: true)
        try file.truncate(to: 0)
        try file.write(Self.encodeFile(bytes, id: id), at: 0)
        try file.sync()
        try fileSystem.rename(temporary, to: path(id))
        try fileSystem.syncDirectory(directory)
        lock.lock()
        loaded[id] = dictionary
        lock.unlock()
        return (id, dictionary)
    }

    static func encodeFile(_ bytes: [UInt8], id: UInt32) -> [UInt8] {
        var file = magic
        file.appendLE(UInt16(1))
        file.appendLE(UInt16(0))
        file.appendLE(id)
        file.appendLE(UInt32(bytes.count))
        file.appendLE(CRC32C.checksum(bytes, extending: CRC32C.checksum(file)))
        file.append(contentsOf: bytes)
        return file
    }

    static func decodeFile(_ file: [UInt8], id: UInt32) throws -> [UInt8] {
        guard file.count >= headerSize, file.starts(with: magic) else {
            throw FormatError.decompressionFailed("dictionary \(id): not a dictionary file")
        }
        return try file.withUnsafeBytes { raw in
            let version = raw.loadLE(UInt16.self, at: 8), storedID = raw.loadLE(UInt32.self, at: 12)
            let length = Int(raw.loadLE(UInt32.self, at: 16)), crc = raw.loadLE(UInt32.self, at: 20)
            guard version == 1, storedID == id, file.count == headerSize + length else {
                throw FormatError.decompressionFailed("dictionary \(id): bad header (version \(version), id \(storedID), \(file.count) bytes)")
            }
            let body = UnsafeRawBufferPointer(rebasing: raw[headerSize...])
            guard CRC32C.checksum(body, extending: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<20]))) == crc else {
                throw FormatError.decompressionFailed("dictionary \(id): checksum mismatch")
            }
            return Array(body)
        }
    }
}
