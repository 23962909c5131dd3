import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import StreamStore

func sampleMessage(_ i: Int) -> AppendRequest {
    let payload = "{\"id\":\(i),\"user\":\"user-\(i % 1000)\",\"action\":\"\(["view", "click", "buy"][i % 3])\",\"amount\":\(i % 997).\(i % 100),\"region\":\"eu-west-\(i % 4)\",\"tags\":[\"a\",\"b\"]}"
    return AppendRequest(subject: "events.\(i % 100).\(["view", "click", "buy"][i % 3])", payload: Array(payload.utf8))
}

func openOrCreate(_ path: String, sync: StreamConfig.SyncPolicy = .always) throws -> FileStream {
    if FileManager.default.fileExists(atPath: path + "/stream.json") { return try FileStream(directory: path) }
    var config = StreamConfig(name: URL(fileURLWithPath: path).lastPathComponent)
    config.sync = sync
    return try FileStream.create(at: path, config: config)
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create (or extend) a sample stream.", shouldDisplay: false)
    @Argument var path: String
    @Argument var count: Int = 10_000
    @Flag(help: "Create the stream with sync none and append in batches (fast, for large test streams).") var fast = false

    func run() async throws {
        let stream = try openOrCreate(path, sync: fast ? .none : .always)
        defer { stream.close() }
        let start = Int(stream.state.lastSequence)
        let count = self.count
        if fast {
            var i = 0
            while i < count {
                let batch = (i..<min(i + 4096, count)).map { sampleMessage(start + $0) }
                for result in await stream.append(contentsOf: batch) { _ = try result.get() }
                i += 4096
            }
            try await stream.sync()
            print("appended \(count) messages; last sequence \(stream.state.lastSequence)")
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    var i = worker
                    while i < count {
                        _ = try await stream.append(sampleMessage(start + i))
                        i += 16
                    }
                }
            }
            try await group.waitForAll()
        }
        print("appended \(count) messages; last sequence \(stream.state.lastSequence)")
    }
}

/// Appends from 8 concurrent tasks forever; prints "ack <seq> <id>" once each append is acknowledged
/// (the SIGKILL crash test reads these).
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer", abstract: "Append forever, printing acknowledgements.", shouldDisplay: false)
    @Argument var path: String
    @Argument var sync: String = "always"

    final class Counter: @unchecked Sendable {
        private let lock = Lock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }

    func run() async throws {
        let stream = try openOrCreate(path, sync: sync == "none" ? .none : .always)
        OutputDescriptor.standardOutput.write("ready \(stream.state.lastSequence)\n".utf8)
        let counter = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while true {
                        let id = counter.next()
                        let result = try await stream.append(AppendRequest(subject: "crash.\(id % 7)", payload: Array("payload-\(id)".utf8)))
                        OutputDescriptor.standardOutput.write("ack \(result.sequence) \(id)\n".utf8)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
