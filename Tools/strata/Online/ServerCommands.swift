import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import Platform

/// `strata server info|ping|check`.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "A running server: its INFO, its round trip, its health.",
                                                    subcommands: [Info.self, Ping.self, Check.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The server's INFO (JSON).")
        @OptionGroup var options: ServerOptions
        func run() throws {
            do {
                let client = try options.connect()
                try printJSONObject(try JSONReader.value(client.info))
            } catch { throw fail(error) }
        }
    }

    struct Ping: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Round-trip times of PING to the server.")
        @OptionGroup var options: ServerOptions
        @Option(name: [.short, .long], help: "How many pings.") var count = 3
        func run() throws {
            do {
                let client = try options.connect()
                var times: [Double] = []
                for i in 1...max(1, count) {
                    let rtt = try client.ping(timeout: options.timeout) * 1000
                    times.append(rtt)
                    if !options.json { emit(String(printf: "ping %ld: %.3f ms", i, rtt)) }
                }
                if options.json { try printJSONObject(["rtt_ms": times]) }
            } catch { throw fail(error) }
        }
    }

    /// A health check for scripts and probes: it connects, times a round trip, and asks JetStream for the
    /// account's figures. Exit 0 and `OK` when all answered; 1 and `CRITICAL` with the reason otherwise.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connection, round trip and JetStream health (exit 1 when unhealthy).")
        @OptionGroup var options: ServerOptions
        @Flag(help: "Do not ask for JetStream (a core-only server).") var noJetstream = false
        func run() throws {
            var report: [String: Any] = ["server": options.server]
            do {
                let api = try JetStreamAPI(options)
                let info = JSONReader.object(api.client.info) ?? [:]
                report["server_name"] = info["server_name"] ?? ""
                report["version"] = info["version"] ?? ""
                report["rtt_ms"] = try api.client.ping(timeout: options.timeout) * 1000
                if !noJetstream {
                    let account = try api.call("INFO")
                    report["streams"] = account["streams"] ?? 0
                    report["consumers"] = account["consumers"] ?? 0
                }
                report["status"] = "OK"
                try options.output(report) {
                    var text = "OK: connected to \(options.server) (\(report["server_name"]!) \(report["version"]!)), rtt "
                        + String(printf: "%.3f ms", report["rtt_ms"] as! Double)
                    if !noJetstream { text += "; JetStream: \(report["streams"]!) stream(s), \(report["consumers"]!) consumer(s)" }
                    return text
                }
            } catch {
                report["status"] = "CRITICAL"
                report["error"] = "\(error)"
                if options.json { try? printJSONObject(report) } else { emit("CRITICAL: \(error)") }
                throw ExitCode.failure
            }
        }
    }
}
