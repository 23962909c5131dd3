import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import StreamStore

/// `strata`: inspect, verify, repair and compact stream files without a running broker. Each command is a
/// thin shell over a StreamStore API; the exit status is 0 when all is well, 1 when something is wrong.
@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Inspect, verify, repair and compact Strata streams offline; manage a running server.",
        subcommands: [Inspect.self, Verify.self, Repair.self, Compact.self, Demo.self, CrashWriter.self,
                      ServerCommand.self, StreamCommand.self, ConsumerCommand.self, KVCommand.self, Pub.self, Sub.self, Request.self,
                      Reply.self, BenchCommand.self])
}

/// A store directory (with `streams/`, and with accounts `accounts/<name>/streams/`) or one stream directory.
struct Target: ParsableArguments {
    @Argument(help: "A stream directory, or a store directory holding streams/ (and accounts/<name>/streams/).")
    var path: String

    /// The stream directories the path names: a store's global-account streams, then each account's.
    func streams() throws -> [String] {
        let manager = FileManager.default
        if manager.fileExists(atPath: path + "/stream.json") { return [path] }
        func streams(in root: String) -> [String] {
            let streams = root + "/streams"
            guard let names = try? manager.contentsOfDirectory(atPath: streams) else { return [] }
            // (a name starting with "." is a stream being created: `.creating-<name>-<ns>`, never a stream)
            return names.sorted().filter { !$0.hasPrefix(".") }.map { streams + "/" + $0 }
                .filter { manager.fileExists(atPath: $0 + "/stream.json") }
        }
        var found = streams(in: path)
        let accounts = (try? manager.contentsOfDirectory(atPath: path + "/accounts")) ?? []
        for account in accounts.sorted() { found += streams(in: path + "/accounts/" + account) }
        if !found.isEmpty { return found }
        throw ValidationError("\(path) is neither a stream directory (no stream.json) nor a store directory with streams/ or accounts/")
    }
}

/// Progress for long runs: a bar on a terminal, a line per 10% otherwise.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let unit: String
    private let terminal = isatty(2) != 0
    private var lastShown = -1

    init(_ label: String, unit: String = "bytes") {
        self.label = label
        self.unit = unit
    }

    func update(_ done: Int64, _ total: Int64) {
        let percent = total > 0 ? Int(done * 100 / total) : 100
        if terminal {
            guard percent != lastShown else { return }
            let filled = percent / 4
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 25 - filled)
            OutputDescriptor.standardError.write("\r\(label) [\(bar)] \(percent)%".utf8)
            if percent >= 100 { OutputDescriptor.standardError.write("\n".utf8) }
        } else if percent / 10 != lastShown / 10 || (percent == 100 && lastShown != 100) {
            OutputDescriptor.standardError.write("\(label): \(percent)% (\(done) of \(total) \(unit))\n".utf8)
        }
        lastShown = percent
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func formatTime(_ nanoseconds: Int64) -> String {
    Date(timeIntervalSince1970: Double(nanoseconds) / 1e9).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}
