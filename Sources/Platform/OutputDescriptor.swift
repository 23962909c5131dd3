#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that text and bytes are written to whole (`write(2)` repeated until every byte is out or
/// the descriptor fails), where Foundation's `FileHandle` stood: standard output, standard error, or a log
/// file opened for appending. A descriptor it opened is closed when it is released; the standard ones never.
public final class OutputDescriptor: @unchecked Sendable {
    public static let standardOutput = OutputDescriptor(descriptor: 1, owned: false)
    public static let standardError = OutputDescriptor(descriptor: 2, owned: false)

    private let descriptor: Int32
    private let owned: Bool

    private init(descriptor: Int32, owned: Bool) {
        self.descriptor = descriptor
        self.owned = owned
    }

    /// Opens `path` for appending, creating it (mode 0644) when missing; nil when it cannot be opened.
    public convenience init?(appendingTo path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return nil }
        self.init(descriptor: descriptor, owned: true)
    }

    deinit { if owned { close(descriptor) } }

    /// Writes every byte; a failure other than an interruption drops the rest (there is nowhere to report it).
    public func write(_ bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
