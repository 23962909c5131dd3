import Foundation
import StreamStore

/// `strata`: offline tools over stream directories (no broker needed).
///
///   strata inspect <stream-dir>                  state, config and recovery report
///   strata demo <stream-dir> [count]             create a sample stream and append `count` messages
///   strata crash-writer <stream-dir> [sync]      append forever, printing each acknowledged sequence
///                                                (used by the crash test; `sync` is always|none)
let arguments = CommandLine.arguments.dropFirst()

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("strata: \(message)\n".utf8))
    exit(1)
}

func usage() -> Never {
    print("""
    usage: strata inspect <stream-dir>
           strata demo <stream-dir> [count]
           strata crash-writer <stream-dir> [always|none]
    """)
    exit(2)
}

func openOrCreate(_ path: String, sync: StreamConfig.SyncPolicy = .always) throws -> FileStream {
    if FileManager.default.fileExists(atPath: path + "/stream.json") { return try FileStream(directory: path) }
    var config = StreamConfig(name: URL(fileURLWithPath: path).lastPathComponent)
    config.sync = sync
    return try FileStream.create(at: path, config: config)
}

func sampleMessage(_ i: Int) -> AppendRequest {
    let payload = "{\"id\":\(i),\"user\":\"user-\(i % 1000)\",\"action\":\"\(["view", "click", "buy"][i % 3])\",\"amount\":\(i % 997).\(i % 100),\"region\":\"eu-west-\(i % 4)\",\"tags\":[\"a\",\"b\"]}"
    return AppendRequest(subject: "events.\(i % 100).\(["view", "click", "buy"][i % 3])", payload: Array(payload.utf8))
}

func inspect(_ path: String) throws {
    let stream = try FileStream(directory: path)
    defer { stream.close() }
    let state = stream.state
    let config = stream.currentConfig
    print("stream \(config.name) at \(path)")
    print("  messages \(state.messages), bytes \(state.bytes), subjects \(state.subjects), deleted \(state.deleted)")
    print("  sequences \(state.firstSequence)...\(state.lastSequence)")
    if state.messages > 0 {
        let first = Date(timeIntervalSince1970: Double(state.firstTimestamp) / 1e9)
        let last = Date(timeIntervalSince1970: Double(state.lastTimestamp) / 1e9)
        print("  first \(first), last \(last)")
    }
    print("  sync \(config.sync), compression \(config.compression ? "zstd level \(config.compressionLevel)" : "off")")
    let segments = (try? FileManager.default.contentsOfDirectory(atPath: path + "/segments"))?.sorted() ?? []
    var onDisk: Int64 = 0
    for name in segments {
        let size = ((try? FileManager.default.attributesOfItem(atPath: path + "/segments/" + name))?[.size] as? Int64) ?? 0
        onDisk += size
        print("  segment \(name): \(size) bytes")
    }
    if onDisk > 0 && state.bytes > 0 {
        print(String(format: "  log %d bytes on disk, ratio %.2fx of accounted bytes", onDisk, Double(state.bytes) / Double(onDisk)))
    }
    print("recovery: \(stream.recovery.isClean ? "clean" : stream.recovery.description)")
}

func demo(_ path: String, count: Int) async throws {
    let stream = try openOrCreate(path)
    defer { stream.close() }
    let start = stream.state.lastSequence
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<16 {
            group.addTask {
                var i = worker
                while i < count {
                    _ = try await stream.append(sampleMessage(Int(start) + i))
                    i += 16
                }
            }
        }
        try await group.waitForAll()
    }
    print("appended \(count) messages; last sequence \(stream.state.lastSequence)")
}

/// Appends from 8 concurrent tasks forever; prints "seq payload-id" once each append is acknowledged.
func crashWriter(_ path: String, sync: StreamConfig.SyncPolicy) async throws {
    let stream = try openOrCreate(path, sync: sync)
    emit("ready \(stream.state.lastSequence)")
    let counter = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<8 {
            group.addTask {
                while true {
                    let id = counter.next()
                    let result = try await stream.append(AppendRequest(subject: "crash.\(id % 7)", payload: Array("payload-\(id)".utf8)))
                    emit("ack \(result.sequence) \(id)")
                }
            }
        }
        try await group.waitForAll()
    }
}

/// Writes one line to stdout at once (unbuffered), so a parent reading it sees every acknowledgement.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

guard let command = arguments.first else { usage() }
let rest = Array(arguments.dropFirst())
do {
    switch command {
    case "inspect":
        guard let path = rest.first else { usage() }
        try inspect(path)
    case "demo":
        guard let path = rest.first else { usage() }
        try await demo(path, count: rest.count > 1 ? Int(rest[1]) ?? 10_000 : 10_000)
    case "crash-writer":
        guard let path = rest.first else { usage() }
        try await crashWriter(path, sync: rest.count > 1 && rest[1] == "none" ? .none : .always)
    default:
        usage()
    }
} catch {
    fail("\(error)")
}
