#if canImport(Glibc)
import Glibc
#endif

/// The process's malloc settings. Every open LMDB environment holds about 3 MiB of page lists (`calloc`ed in
/// `mdb_env_open`, freed in `mdb_env_close`), and the open-stream budget opens and closes environments all the
/// time in a store of many streams. glibc raises its mmap threshold to the size of the largest mapped block
/// freed, after which such blocks come from the heap: `calloc` then zeroes recycled pages (they become
/// resident) and the heap keeps them after the free. A fixed threshold keeps them mapped: untouched pages stay
/// out of RSS and a close returns them to the system.
enum MallocTuning {
    /// Blocks of this size or more are always mapped on their own.
    static let mmapThreshold: Int32 = 512 << 10

    /// `M_MMAP_THRESHOLD` of glibc's malloc.h (which Swift's Glibc module does not export).
    private static let mMmapThreshold: Int32 = -3

    static func apply() {
        #if canImport(Glibc)
        _ = glibcMallopt(mMmapThreshold, mmapThreshold)
        #endif
    }
}

#if canImport(Glibc)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
