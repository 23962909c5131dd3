#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// What a file stream occupies on disk, as `du` counts it (allocated blocks): its log segments, its
/// index and its dictionaries. Read from the directory with `stat`, never through the writer, so it can be
/// asked at any time; a file that vanishes meanwhile (a reclaimed segment) simply does not count.
public struct StreamDiskUsage: Sendable, Equatable {
    public var segments = 0
    public var logBytes: UInt64 = 0
    public var indexBytes: UInt64 = 0
    public var dictionaryBytes: UInt64 = 0

    /// The stream's message bytes (`logical`) per byte of log on disk; 0 for an empty log.
    public func compressionRatio(logical: UInt64) -> Double {
        logBytes == 0 ? 0 : Double(logical) / Double(logBytes)
    }

    /// Measures the stream directory at `root`.
    public static func measure(root: String) -> StreamDiskUsage {
        let paths = StreamPaths(root: root)
        var usage = StreamDiskUsage()
        for (directory, suffix) in [(paths.segments, ".seg")] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(suffix) {
                usage.segments += 1
                usage.logBytes += allocated(directory + "/" + name)
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: paths.index)) ?? [] {
            usage.indexBytes += allocated(paths.index + "/" + name)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: paths.dictionaries)) ?? [] {
            usage.dictionaryBytes += allocated(paths.dictionaries + "/" + name)
        }
        return usage
    }

    static func allocated(_ path: String) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return UInt64(max(0, info.st_blocks)) * 512
    }
}

extension FileStream {
    /// What this stream occupies on disk now (``StreamDiskUsage``).
    public var diskUsage: StreamDiskUsage { StreamDiskUsage.measure(root: directory) }
}
