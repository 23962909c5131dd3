import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import StreamStore

struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a damaged stream usable again: back up the index, quarantine damage, rebuild; say what was done.")

    @OptionGroup var target: Target
    @Flag(help: "Show the plan without changing anything.") var dryRun = false
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        for stream in try target.streams() {
            let report: RepairReport
            do {
                report = try StreamRepairer.repair(directory: stream, dryRun: dryRun, progress: ProgressBar("repair \(stream)").update)
            } catch StoreError.locked {
                throw ValidationError("\(stream) is held by another process (is the broker running?); stop it before repairing")
            }
            if json { try printJSON(report); continue }
            print("\(stream)\(dryRun ? " (dry run: nothing changed)" : ""):")
            for action in report.actions { print("  \(action)") }
            if !dryRun { print("  now \(report.messages) messages, last sequence \(report.lastSequence)") }
        }
    }
}
