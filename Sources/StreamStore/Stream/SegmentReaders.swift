#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import LMDB
import Zstd

/// Read access to a stream's segments for any thread: cached file handles, a cache of decoded frames
/// (``FrameCache``: sequential reads decode each frame once, point reads keep the frames they come back to),
/// and a pool of decompression contexts.
final class SegmentReaders: @unchecked Sendable {
    private let fileSystem: any FileSystem
    private let paths: StreamPaths
    private let lock = Lock()
    private var handles: [UInt64: any FileHandle] = [:]
    private var frames: FrameCache
    private let budget: FrameCacheBudget
    /// Frames a read found damaged (a checksum that does not match, a body that does not decompress or parse)
    /// since the stream was opened: recovery trusts a valid index and does not read every frame at start, so
    /// damage inside the log is found here. Reported by monitoring until `strata repair` quarantines it.
    private var damaged: Set<FrameKey> = []
    private var decompressors: [Decompressor] = []

    typealias FrameKey = FrameCache.Key

    /// The most a stream's point reads keep of decoded frames (``FrameCache``): 8 MiB, as much as one of
    /// nats-server's file-store blocks, which it keeps in memory while it reads them.
    static let pointBytesPerStream = 8 << 20

    /// The stream's zstd dictionaries (shared with the writer, which adds them).
    let dictionaries: FrameDictionaries
    /// Held exclusively by the writer while it swaps a segment (compaction commits new locations, then
    /// renames the new file in; reclamation deletes a segment). A reader whose snapshot and file disagree
    /// reads again holding it shared, so it sees the old locations with the old file or the new with the
    /// new, never a mix.
    let swapGate = ReadWriteLock()

    /// `scanFrames`: the frames kept for scans; `budget`: what the point reads of every stream keep together.
    init(fileSystem: any FileSystem, paths: StreamPaths, scanFrames: Int = 64, budget: FrameCacheBudget = .shared) {
        self.fileSystem = fileSystem
        self.paths = paths
        self.frames = FrameCache(scanCapacity: scanFrames)
        self.budget = budget
        self.dictionaries = FrameDictionaries(directory: paths.dictionaries, fileSystem: fileSystem)
    }

    deinit { budget.adjust(by: -frames.pointBytes) }

    /// How many bytes the point part may hold for an insert of `bytes` more: the stream's share, unless the
    /// process's budget has no room, when it may not grow. Under `lock`.
    private func pointLimit(adding bytes: Int) -> Int {
        budget.hasRoom(for: bytes) ? Self.pointBytesPerStream : frames.pointBytes
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

    /// The decoded frame at `offset` of `segment`, kept for reads of kind `use` (``FrameCache``).
    func frame(segment: UInt64, offset: UInt64, use: FrameCache.Use = .scan) throws -> DecodedFrame {
        let key = FrameKey(segment: segment, offset: offset)
        lock.lock()
        var delta = 0
        if let cached = frames.frame(key, use: use, pointLimit: { pointLimit(adding: 32 << 10) }, delta: &delta) {
            lock.unlock()
            budget.adjust(by: delta)
            return cached
        }
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
        // A frame joins the scans first, point read or not: a second point read of it while it is there moves it
        // to the point part. So point reads spread over far more frames than the point part holds (random gets
        // over a large stream) do not churn it, and the frames point reads come back to stay.
        delta = frames.insert(frame, at: key, use: .scan, pointLimit: 0)
        lock.unlock()
        budget.adjust(by: delta)
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
        budget.adjust(by: frames.remove(segment: segment))
    }
}
