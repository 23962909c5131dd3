import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform

/// Latency percentiles of a run, in milliseconds.
struct LatencySummary {
    let p50: Double, p90: Double, p99: Double, max: Double

    init?(_ seconds: [Double]) {
        guard !seconds.isEmpty else { return nil }
        let sorted = seconds.sorted()
        func at(_ fraction: Double) -> Double { sorted[Swift.min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)] * 1000 }
        p50 = at(0.5); p90 = at(0.9); p99 = at(0.99); max = sorted[sorted.count - 1] * 1000
    }

    var json: [String: Any] { ["p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max] }
    var text: String { String(printf: "latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms", p50, p90, p99, max) }
}

/// `strata bench pub|sub|js`: a small load generator. It prints the rate (and for JetStream publishes the
/// latency of each ack's round trip) with a progress bar on standard error.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure publish, subscribe and JetStream rates.",
                                                    subcommands: [Publish.self, Subscribe.self, JetStream.self])

    struct Load: ParsableArguments {
        @Option(help: "Messages to send or receive.") var msgs = 100_000
        @Option(help: "Payload bytes per message.") var size = 128
    }

    static func report(_ options: ServerOptions, kind: String, messages: Int, size: Int, seconds: Double, latency: LatencySummary?) throws {
        let rate = Double(messages) / Swift.max(seconds, 1e-9)
        var object: [String: Any] = ["kind": kind, "messages": messages, "size": size, "seconds": seconds, "msgs_per_sec": rate,
                                     "bytes_per_sec": rate * Double(size)]
        if let latency { object["latency"] = latency.json }
        try options.output(object) {
            var text = "\(kind): " + String(printf: "%ld messages of %ld bytes in %.3f s: %.0f msgs/s, %.2f MB/s", messages, size, seconds, rate,
                                              rate * Double(size) / 1_000_000)
            if let latency { text += "\n" + latency.text }
            return text
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pub", abstract: "Publish as fast as the connection takes it.")
        @OptionGroup var options: ServerOptions
        @OptionGroup var load: Load
        @Argument var subject: String
        func run() throws {
            do {
                let client = try options.connect()
                let payload = [UInt8](repeating: UInt8(ascii: "x"), count: load.size)
                let progress = ProgressBar("pub", unit: "messages")
                let start = Date()
                for i in 0..<load.msgs {
                    try client.publish(subject, payload)
                    if i % 1000 == 999 { progress.update(Int64(i + 1), Int64(load.msgs)) }
                }
                _ = try client.ping(timeout: options.timeout * 10)  // (the server has taken them all)
                progress.update(Int64(load.msgs), Int64(load.msgs))
                try BenchCommand.report(options, kind: "pub", messages: load.msgs, size: load.size, seconds: Date().timeIntervalSince(start), latency: nil)
            } catch { throw fail(error) }
        }
    }

    struct Subscribe: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sub", abstract: "Receive messages and time them, first to last.")
        @OptionGroup var options: ServerOptions
        @OptionGroup var load: Load
        @Argument var subject: String
        func run() throws {
            do {
                let client = try options.connect()
                _ = try client.subscribe(subject)
                _ = try client.ping(timeout: options.timeout)
                emit("subscribed to \(subject)")
                let progress = ProgressBar("sub", unit: "messages")
                var start: Date?
                var bytes = 0
                for i in 0..<load.msgs {
                    guard let message = try client.nextMessage(timeout: start == nil ? 3600 : options.timeout) else {
                        throw OnlineFailure("received \(i) of \(load.msgs) messages: none came for \(options.timeout) s")
                    }
                    if start == nil { start = Date() }
                    bytes += message.payload.count
                    if i % 1000 == 999 { progress.update(Int64(i + 1), Int64(load.msgs)) }
                }
                progress.update(Int64(load.msgs), Int64(load.msgs))
                try BenchCommand.report(options, kind: "sub", messages: load.msgs, size: load.msgs > 0 ? bytes / load.msgs : 0,
                                        seconds: Date().timeIntervalSince(start ?? Date()), latency: nil)
            } catch { throw fail(error) }
        }
    }

    struct JetStream: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "js", abstract: "JetStream publishes, each acknowledged; ack latency percentiles.")
        @OptionGroup var options: ServerOptions
        @OptionGroup var load: Load
        @Argument var subject: String
        @Option(help: "Publishes outstanding at once (1: each waits for its ack).") var window = 1
        @Option(help: "Create this stream on the subject first, and delete it after.") var stream: String?
        func run() throws {
            do {
                let api = try JetStreamAPI(options)
                if let stream { _ = try api.call("STREAM.CREATE." + stream, ["name": stream, "subjects": [subject], "storage": "file", "num_replicas": 1]) }
                defer { if let stream { _ = try? api.call("STREAM.DELETE." + stream) } }
                let client = api.client
                let prefix = "_INBOX.strata.bench.\(UInt64.random(in: 1...UInt64.max))."
                _ = try client.subscribe(prefix + "*")
                let payload = [UInt8](repeating: UInt8(ascii: "x"), count: load.size)
                let progress = ProgressBar("js", unit: "messages")
                var sentAt = [Double](repeating: 0, count: load.msgs)
                var latencies: [Double] = []
                latencies.reserveCapacity(load.msgs)
                let clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
                let start = Date()
                var sent = 0
                while latencies.count < load.msgs {
                    while sent < load.msgs && sent - latencies.count < Swift.max(1, window) {
                        sentAt[sent] = clock()
                        try client.publish(subject, payload, reply: prefix + String(sent))
                        sent += 1
                    }
                    guard let ack = try client.nextMessage(timeout: options.timeout) else {
                        throw OnlineFailure("no ack within \(options.timeout) s after \(latencies.count) of \(load.msgs)")
                    }
                    if ack.status == 503 { throw OnlineFailure("no stream takes \(subject) (no responders)") }
                    if ack.text.contains("\"error\"") { throw OnlineFailure("publish refused: \(ack.text)") }
                    guard let index = ack.subject.split(separator: ".").last.flatMap({ Int($0) }), index < sent else { continue }
                    latencies.append(clock() - sentAt[index])
                    if latencies.count % 100 == 0 { progress.update(Int64(latencies.count), Int64(load.msgs)) }
                }
                progress.update(Int64(load.msgs), Int64(load.msgs))
                try BenchCommand.report(options, kind: "js", messages: load.msgs, size: load.size, seconds: Date().timeIntervalSince(start),
                                        latency: LatencySummary(latencies))
            } catch { throw fail(error) }
        }
    }
}
