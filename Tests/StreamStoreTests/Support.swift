import Foundation
@testable import StreamStore

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "strata-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func stream(_ name: String = "s") -> String { path + "/" + name }
}

/// A clock the test moves by hand (ns since the epoch).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64 = 1_700_000_000_000_000_000) { value = start }
    var now: Int64 { lock.lock(); defer { lock.unlock() }; return value }
    func advance(_ nanoseconds: Int64) { lock.lock(); value += nanoseconds; lock.unlock() }
    var function: @Sendable () -> Int64 { { [self] in self.now } }
}

/// Which store a behaviour test runs against.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case fileCompressed, fileRaw, memory
    var description: String { rawValue }

    /// The size a message counts for in this kind of store (nats-server's file or memory formula).
    func accountedSize(subject: Int, headers: Int, payload: Int) -> UInt64 {
        self == .memory ? StoredMessage.memoryAccountedSize(subject: subject, headers: headers, payload: payload)
            : StoredMessage.fileAccountedSize(subject: subject, headers: headers, payload: payload)
    }
}

/// A store of the given kind in a temporary directory, with a manual clock.
struct StoreFixture {
    let directory = TemporaryDirectory()
    let clock = ManualClock()
    let kind: StoreKind
    var store: any MessageStore

    init(_ kind: StoreKind, configure: (inout StreamConfig) -> Void = { _ in }) throws {
        self.kind = kind
        var config = StreamConfig(name: "s")
        config.compression = kind == .fileCompressed
        configure(&config)
        switch kind {
        case .memory: store = try MemoryStream(config: config, clock: clock.function)
        case .fileCompressed, .fileRaw: store = try FileStream.create(at: directory.stream(), config: config, clock: clock.function)
        }
    }

    /// Closes and reopens a file store (memory stores stay as they are).
    mutating func reopen() throws {
        guard kind != .memory else { return }
        store.close()
        store = try FileStream(directory: directory.stream(), clock: clock.function)
    }
}

func request(_ subject: String, _ payload: String, id: String? = nil, headers: String = "") -> AppendRequest {
    AppendRequest(subject: subject, headers: Array(headers.utf8), payload: Array(payload.utf8), messageID: id)
}

extension StoredMessage {
    var text: String { String(decoding: payload, as: UTF8.self) }
}
