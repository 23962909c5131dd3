#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Logging

/// Log settings that a reload may change (level, timestamps), shared by every handler. Thread-safe.
final class LogSettings: @unchecked Sendable {
    private let lock = Lock()
    private var level: Logger.Level
    private var time: Bool
    private let output: OutputDescriptor

    init(level: Logger.Level, time: Bool, output: OutputDescriptor) {
        self.level = level
        self.time = time
        self.output = output
    }

    var current: (level: Logger.Level, time: Bool) { lock.withLock { (level, time) } }

    func update(level: Logger.Level, time: Bool) { lock.withLock { self.level = level; self.time = time } }

    func write(_ line: String) {
        let data = Data(line.utf8)
        lock.withLock { output.write(data) }
    }
}

/// Lines as nats-server writes them, so that what operators grep for keeps working:
/// `[pid] 2026/12/01 23:49:29.931057 [INF] message` (without the time when `logtime` is off).
struct ServerLogHandler: LogHandler {
    let settings: LogSettings
    var metadata: Logger.Metadata = [:]

    var logLevel: Logger.Level {
        get { settings.current.level }
        set {}  // (the level is the server's, changed by a reload)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let pid = ProcessInfo.processInfo.processIdentifier

    func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let (_, time) = settings.current
        var text = "[\(Self.pid)] "
        if time { text += Self.timestamp() + " " }
        text += "[\(Self.tag(level))] "
        var all = metadata
        if let extra { all.merge(extra) { $1 } }
        if let cid = all["cid"] { text += "cid:\(cid) - " }
        text += message.description
        text += "\n"
        settings.write(text)
    }

    static func tag(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "TRC"
        case .debug: return "DBG"
        case .info, .notice: return "INF"
        case .warning: return "WRN"
        case .error: return "ERR"
        case .critical: return "FTL"
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(printf: "%04d/%02d/%02d %02d:%02d:%02d.%06d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, now.tv_nsec / 1000)
    }
}
