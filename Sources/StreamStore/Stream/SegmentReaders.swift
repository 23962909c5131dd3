#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import LMDB
import Zstd

/// Read access to a stream's segments for any thread: cached file handles, a small cache of decoded
/// frames (sequential reads decode each frame once), and a pool of decompression contexts.
final class SegmentReaders: @unchecked Sendable {
    private let fileSystem: any FileSystem
    private let paths: StreamPaths
    private let lock = Lock()
    private var handles: [UInt64: any FileHandle] = [:]
    private var frames: [FrameKey: DecodedFrame] = [:]
    private var frameOrder: [FrameKey] = []
    /// Frames a read found damaged (a checksum that does not match, a body that does not decompress or parse)
    /// since the stream was opened: recovery trusts a valid index and does not read every frame at start, so
    /// damage inside the log is found here. Reported by monitoring until `strata repair` quarantines it.
    private var damaged: Set<FrameKey> = []
    private var decompressors: [Decompressor] = []
    private let frameCapacity: Int

    struct FrameKey: Hashable { var segment: UInt64; var offset: UInt64 }

    /// The stream's zstd dictionaries (shared with the writer, which adds them).
    let dictionaries: FrameDictionaries
    /// Held exclusively by the writer while it swaps a segment (compaction commits new locations, then
    /// renames the new file in; reclamation deletes a segment). A reader whose snapshot and file disagree
    /// reads again holding it shared, so it sees the old locations with the old file or the new with the
    /// new, never a mix.
    let swapGate = ReadWriteLock()

    init(fileSystem: any FileSystem, paths: StreamPaths, frameCapacity: Int = 64) {
        self.fileSystem = fileSystem
        self.paths = paths
        self.frameCapacity = frameCapacity
        self.dictionaries = FrameDictionaries(directory: paths.dictionaries, fileSystem: fileSystem)
    }

    func handle(_ segment: UInt64) throws -> any FileHandle {
        lock.lock()
        if let handle = handles[segment] { lock.unlock(); return handle }
        lock.unlock()
        let handle: any FileHandle
        do { handle = try fileSystem.openForReading(paths.segment(segment)) } catch { throw StoreError.wrap(error) }
        lock.lock()
        handles[segment] = handle
        lock.unlock()
        return handle
    }

    /// The decoded frame at `offset` of `segment`.
    func frame(segment: UInt64, offset: UInt64) throws -> DecodedFrame {
        let key = FrameKey(segment: segment, offset: offset)
        lock.lock()
        if let cached = frames[key] { lock.unlock(); return cached }
        let decompressor = decompressors.popLast() ?? Decompressor()
        lock.unlock()
        defer { lock.lock(); decompressors.append(decompressor); lock.unlock() }
        let file = try handle(segment)
        let read: DecodedFrame?
        do {
            read = try DecodedFrame.read(from: file, at: Int64(offset), decompressor: decompressor, dictionaries: dictionaries)
        } catch StoreError.corrupt(let path, let at, let format) {
            lock.lock(); damaged.insert(key); lock.unlock()
            throw StoreError.corrupt(file: path, offset: at, format)
        }
        guard let frame = read else {
            throw StoreError.indexMismatch("no frame at offset \(offset) of segment \(segment) (end of file)")
        }
        lock.lock()
        if frames[key] == nil {
            frames[key] = frame
            frameOrder.append(key)
            if frameOrder.count > frameCapacity { frames[frameOrder.removeFirst()] = nil }
        }
        lock.unlock()
        return frame
    }

    /// The frames reads found damaged, by segment and offset.
    var damagedFrames: [(segment: UInt64, offset: UInt64)] {
        lock.lock()
        defer { lock.unlock() }
        return damaged.sorted { ($0.segment, $0.offset) < ($1.segment, $1.offset) }.map { ($0.segment, $0.offset) }
    }

    /// Forgets a segment's handle and frames (after compaction replaced or removed it).
    func invalidate(_ segment: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        handles[segment] = nil
        frameOrder.removeAll { $0.segment == segment }
        frames = frames.filter { $0.key.segment != segment }
    }
}
