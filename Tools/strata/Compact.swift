import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import StreamStore

struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reclaim the space of removed records and recompress sealed segments.")

    @OptionGroup var target: Target
    @Option(help: "zstd level for rewritten frames.") var level: Int32 = 3
    @Option(help: "Raw bytes per rewritten frame.") var frameBytes: Int = 64 << 10
    @Flag(help: "Rewrite every sealed segment, not only those with removed records or small frames.") var all = false
    @Flag(help: "Print the report as JSON.") var json = false

    struct Output: Encodable {
        var stream: String
        var segmentsRewritten: Int
        var segmentsRemoved: Int
        var recordsDropped: Int
        var bytesBefore: Int64
        var bytesAfter: Int64
    }

    func run() async throws {
        for path in try target.streams() {
            let stream: FileStream
            do { stream = try FileStream(directory: path) } catch StoreError.locked {
                throw ValidationError("\(path) is held by another process (is the broker running?); stop it before compacting")
            }
            let report = try await stream.compact(CompactionOptions(level: level, frameBytes: frameBytes, rewriteAll: all))
            stream.close()
            let output = Output(stream: path, segmentsRewritten: report.segmentsRewritten, segmentsRemoved: report.segmentsRemoved,
                                recordsDropped: report.recordsDropped, bytesBefore: report.bytesBefore, bytesAfter: report.bytesAfter)
            if json { try printJSON(output); continue }
            print("\(path): rewrote \(report.segmentsRewritten) and removed \(report.segmentsRemoved) sealed segments, dropped \(report.recordsDropped) records; sealed segments \(report.bytesBefore) → \(report.bytesAfter) bytes")
        }
    }
}
