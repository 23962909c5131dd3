#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The real file system, through POSIX calls.
public struct POSIXFileSystem: FileSystem {
    public init() {}

    public func open(_ path: String, create: Bool) throws -> any FileHandle {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = Glibc.open(path, flags, 0o644)
        if fd < 0 { throw FileSystemError(operation: "open", path: path, errno: errno) }
        return POSIXFileHandle(fd: fd, path: path)
    }

    public func openForReading(_ path: String) throws -> any FileHandle {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileSystemError(operation: "open", path: path, errno: errno) }
        return POSIXFileHandle(fd: fd, path: path)
    }

    public func createDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw FileSystemError(operation: "mkdir", path: path, errno: errno)
        }
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileSystemError(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func remove(_ path: String) throws {
        if isDirectory(path) {
            for name in try contentsOfDirectory(path) { try remove(path + "/" + name) }
            if rmdir(path) != 0 { throw FileSystemError(operation: "rmdir", path: path, errno: errno) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw FileSystemError(operation: "unlink", path: path, errno: errno)
        }
    }

    public func rename(_ source: String, to destination: String) throws {
        if Glibc.rename(source, destination) != 0 {
            throw FileSystemError(operation: "rename to \(destination)", path: source, errno: errno)
        }
    }

    public func syncFileSystem(containing path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileSystemError(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        if systemSyncfs(fd) != 0 { throw FileSystemError(operation: "syncfs", path: path, errno: errno) }
    }

    public func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileSystemError(operation: "open directory", path: path, errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileSystemError(operation: "fsync directory", path: path, errno: errno) }
    }
}

/// An open POSIX file descriptor, closed on `deinit`.
final class POSIXFileHandle: FileHandle, @unchecked Sendable {
    let fd: Int32
    let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "pread", path: path, errno: errno)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var total = 0
        while total < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + total, bytes.count - total, off_t(offset) + off_t(total))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "pwrite", path: path, errno: errno)
            }
            total += n
        }
    }

    func size() throws -> Int64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw FileSystemError(operation: "fstat", path: path, errno: errno) }
        return Int64(st.st_size)
    }

    func truncate(to size: Int64) throws {
        if ftruncate(fd, off_t(size)) != 0 { throw FileSystemError(operation: "ftruncate", path: path, errno: errno) }
    }

    func sync() throws {
        if fdatasync(fd) != 0 { throw FileSystemError(operation: "fdatasync", path: path, errno: errno) }
    }
}

/// syncfs(2) (Linux; not exported by Swift's Glibc module).
@_silgen_name("syncfs")
private func systemSyncfs(_ fd: Int32) -> Int32
