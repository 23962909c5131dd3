/// The active segment's zero-filled space past its last frame (Specs/WritePath.md, "Preallocation").
///
/// With `sync: always`, appending to the end of a file makes every `fdatasync` also commit the new file
/// size (a journal write); overwriting bytes the file already holds syncs only data, about twice as fast
/// on ext4. So the writer keeps zeroed space ahead of the log and writes frames over it. Zeros are never
/// a frame (no magic), so readers, recovery and the tools take an all-zero tail as the end of the log.
enum Preallocation {
    /// How far past `end` to zero when the space runs out: as much as the segment already holds, from
    /// 4 KiB up to 4 MiB (small streams stay small; busy ones extend rarely: the doubling makes the syncs
    /// that also commit a new size a logarithmic few).
    static func extent(activeSize: Int64) -> Int64 {
        min(max(activeSize, 4 << 10), 4 << 20)
    }

    /// Whether the bytes of `file` from `offset` to `size` are all zero (the unused preallocated space).
    static func isZeroTail(_ file: any FileHandle, from offset: Int64, size: Int64) -> Bool {
        var at = offset
        while at < size {
            let count = Int(min(size - at, 1 << 20))
            // (try?: an unreadable tail is not zeros: the caller treats it as damage)
            guard let bytes = try? file.read(count: count, at: at), bytes.count == count else { return false }
            if bytes.contains(where: { $0 != 0 }) { return false }
            at += Int64(count)
        }
        return true
    }
}
