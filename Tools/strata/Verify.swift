import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import StreamStore

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every frame and the index against the log; exit 1 with findings if anything is wrong.")

    @OptionGroup var target: Target
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        var clean = true
        for stream in try target.streams() {
            let start = Date()
            let report = try StreamVerifier.verify(directory: stream, progress: ProgressBar("verify \(stream)").update)
            let seconds = Date().timeIntervalSince(start)
            clean = clean && report.isClean
            if json { try printJSON(report); continue }
            print("\(stream): \(report.segments) segments, \(report.frames) frames, \(report.messageRecords) message records, \(report.liveMessages) live, "
                  + String(printf: "%.2f s (%.0f records/s)", seconds, Double(report.messageRecords) / max(seconds, 1e-9)))
            if report.isClean {
                print("  clean")
            } else {
                for finding in report.findings { print("  \(finding)") }
            }
        }
        if !clean { throw ExitCode.failure }
    }
}
