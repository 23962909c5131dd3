#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import LMDB

/// A stream as `strata inspect` shows it (its JSON shape is stable: `--json` prints this type).
public struct StreamInspection: Codable, Equatable, Sendable {
    public struct Segment: Codable, Equatable, Sendable {
        public var file: String
        public var firstSequence: UInt64
        /// The highest sequence the segment may hold (the next segment's first − 1; the stream's last for the active one).
        public var lastSequence: UInt64
        public var bytes: Int64
        public var frames: Int
        public var compressedFrames: Int
        /// Bytes of the records before compression, and as stored.
        public var rawBytes: Int64
        public var storedBytes: Int64
        public var compressionRatio: Double
        public var dictionaries: [UInt32]
        /// False when the segment's header or some frame header could not be read (run `strata verify`).
        public var readable: Bool
    }

    public struct Index: Codable, Equatable, Sendable {
        public var readable: Bool
        public var bytesUsed: Int
        /// Entries per LMDB database.
        public var entries: [String: Int]
        public var error: String?
    }

    public var name: String
    public var config: StreamConfig
    public var state: StreamState?
    /// Held by another process (a running broker), as told by the stream's lock.
    public var locked: Bool
    public var logBytes: Int64
    public var rawBytes: Int64
    public var compressionRatio: Double
    public var segments: [Segment]
    public var index: Index
    /// A stored consumer's position.
    public struct Consumer: Codable, Equatable, Sendable {
        public var name: String
        public var deliveredStreamSequence: UInt64
        public var ackFloorStreamSequence: UInt64
        public var pending: Int
    }

    /// Stored consumers with their positions, by name.
    public var consumers: [Consumer]
}

/// Reads a stream's state, segments and index without a broker, without writing, and without taking the
/// stream's lock. Cost: one `pread` per frame header (no decompression), plus LMDB's statistics.
public enum StreamInspector {
    public static func inspect(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) throws -> StreamInspection {
        let paths = StreamPaths(root: directory)
        guard fileSystem.exists(paths.config) else { throw StoreError.notAStream(path: directory) }
        let config = try StreamFiles.readConfig(paths: paths)

        var index = StreamInspection.Index(readable: false, bytesUsed: 0, entries: [:], error: nil)
        var state: StreamState?
        var consumers: [StreamInspection.Consumer] = []
        do {
            let store = try IndexStore(path: paths.index, readOnly: true)
            try store.read { reader in
                state = try reader.persistentState()?.stream
                consumers = try reader.consumers().map {
                    StreamInspection.Consumer(name: $0.name, deliveredStreamSequence: $0.deliveredStreamSequence,
                                              ackFloorStreamSequence: $0.ackFloorStreamSequence, pending: $0.pendingSequences.count)
                }
                // `seq`: the held sequences (32 to a `seqBlocks` key).
                index.entries["seq"] = Int(try reader.sequences.count())
                let databases = [("time", store.times), ("subjects", store.subjects),
                                 ("subjectNames", store.subjectNames), ("subjectBlocks", store.subjectSequences), ("messageIDs", store.messageIDs), ("idSequences", store.idSequences), ("consumers", store.consumers)]
                for (name, db) in databases { index.entries[name] = try reader.txn.count(db) }
            }
            index.bytesUsed = (try? store.environment.usedBytes()) ?? 0
            index.readable = true
        } catch {
            index.error = "\(error)"
        }

        let names = try fileSystem.contentsOfDirectory(paths.segments).compactMap(SegmentHeader.firstSequence(fileName:)).sorted()
        var segments: [StreamInspection.Segment] = []
        for (position, first) in names.enumerated() {
            let file = paths.segment(first)
            let handle = try fileSystem.openForReading(file)
            let size = try handle.size()
            let last = position + 1 < names.count ? names[position + 1] - 1 : max(state?.lastSequence ?? 0, first > 0 ? first - 1 : 0)
            var segment = StreamInspection.Segment(file: SegmentHeader.fileName(firstSequence: first), firstSequence: first, lastSequence: last,
                                                   bytes: size, frames: 0, compressedFrames: 0, rawBytes: 0, storedBytes: 0,
                                                   compressionRatio: 1, dictionaries: [], readable: true)
            if (try? SegmentHeader.decode(handle.read(count: SegmentHeader.size, at: 0))) == nil { segment.readable = false }
            var offset = Int64(SegmentHeader.size)
            var dictionaries = Set<UInt32>()
            while segment.readable && offset < size {
                guard let header = try? FrameHeader.decode(handle.read(count: FrameHeader.size, at: offset)),
                      offset + Int64(header.frameLength) <= size else {
                    // Zeros to the end are a live writer's preallocated space: the log ends here.
                    if Preallocation.isZeroTail(handle, from: offset, size: size) { segment.bytes = offset } else { segment.readable = false }
                    break
                }
                segment.frames += 1
                if header.codec == .zstd { segment.compressedFrames += 1 }
                if header.dictionaryID != 0 { dictionaries.insert(header.dictionaryID) }
                segment.rawBytes += Int64(header.rawLength)
                segment.storedBytes += Int64(header.storedLength)
                offset += Int64(header.frameLength)
            }
            segment.dictionaries = dictionaries.sorted()
            segment.compressionRatio = segment.storedBytes > 0 ? Double(segment.rawBytes) / Double(segment.storedBytes) : 1
            segments.append(segment)
        }
        let logBytes = segments.reduce(0) { $0 + $1.bytes }
        let rawBytes = segments.reduce(0) { $0 + $1.rawBytes }
        let stored = segments.reduce(0) { $0 + $1.storedBytes }
        let locked: Bool
        do {
            let fd = try StreamFiles.acquireLock(paths.lock)
            close(fd)
            locked = false
        } catch {
            locked = true
        }
        return StreamInspection(name: config.name, config: config, state: state, locked: locked, logBytes: logBytes, rawBytes: rawBytes,
                                compressionRatio: stored > 0 ? Double(rawBytes) / Double(stored) : 1,
                                segments: segments, index: index, consumers: consumers)
    }
}
