import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import StreamStore

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a stream's config, state, segments and indexes; optionally its messages or subjects.")

    @OptionGroup var target: Target
    @Flag(help: "Print JSON (a stable shape, documented in the README).") var json = false
    @Flag(help: "List messages (with --from/--to/--subject/--since/--until/--limit).") var messages = false
    @Flag(help: "List subjects with their message counts.") var subjects = false
    @Flag(help: "Show consumers and their positions.") var consumers = false
    @Option(help: "First sequence to list.") var from: UInt64 = 1
    @Option(help: "Last sequence to list.") var to: UInt64?
    @Option(help: "Only messages whose subject matches this filter.") var subject: String?
    @Option(help: "Only messages at or after this time (ISO 8601, or ns since the epoch).") var since: String?
    @Option(help: "Only messages before this time (ISO 8601, or ns since the epoch).") var until: String?
    @Option(help: "At most this many messages.") var limit: Int = 100
    @Option(help: "Payload shown: preview (first 64 bytes), full, or none.") var payload: PayloadMode = .preview
    @Flag(help: "Print payloads as raw bytes rather than escaped text.") var raw = false

    enum PayloadMode: String, ExpressibleByArgument { case preview, full, none }

    struct MessageLine: Encodable {
        var sequence: UInt64
        var time: String
        var subject: String
        var headers: String?
        var payloadBytes: Int
        var payload: String?
    }

    func run() async throws {
        var failed = false
        for stream in try target.streams() {
            do {
                if messages { try listMessages(stream) } else if subjects { try listSubjects(stream) } else if consumers { try listConsumers(stream) } else { try summary(stream) }
            } catch {
                OutputDescriptor.standardError.write("strata inspect \(stream): \(error)\n".utf8)
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }

    private func summary(_ directory: String) throws {
        let inspection = try StreamInspector.inspect(directory: directory)
        if json { try printJSON(inspection); return }
        print("stream \(inspection.name) (\(directory))\(inspection.locked ? " — held by a running broker" : "")")
        if let state = inspection.state {
            print("  messages \(state.messages), bytes \(state.bytes), subjects \(state.subjects), deleted \(state.deleted)")
            print("  sequences \(state.firstSequence)...\(state.lastSequence)")
            if state.messages > 0 { print("  first \(formatTime(state.firstTimestamp)), last \(formatTime(state.lastTimestamp))") }
        } else {
            print("  state unknown: the index is unreadable (\(inspection.index.error ?? "?")); run strata verify")
        }
        let config = inspection.config
        print("  limits: max msgs \(config.maxMessages), max bytes \(config.maxBytes), max age \(config.maxAge / 1_000_000_000)s, per subject \(config.maxMessagesPerSubject), discard \(config.discard.rawValue)")
        print("  sync \(config.sync), compression \(config.compression ? "zstd level \(config.compressionLevel)" : "off"), frames \(config.frameBytes) B, segments \(config.segmentBytes) B")
        print("  log: \(inspection.logBytes) bytes on disk, \(inspection.rawBytes) raw, ratio \(String(printf: "%.2f", inspection.compressionRatio))x")
        for segment in inspection.segments {
            print("  segment \(segment.file): sequences \(segment.firstSequence)...\(segment.lastSequence), \(segment.frames) frames "
                  + "(\(segment.compressedFrames) compressed), \(segment.bytes) bytes, ratio \(String(printf: "%.2f", segment.compressionRatio))x"
                  + (segment.dictionaries.isEmpty ? "" : ", dictionaries \(segment.dictionaries)")
                  + (segment.readable ? "" : " — DAMAGED, run strata verify"))
        }
        if inspection.index.readable {
            let entries = inspection.index.entries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("  index: \(inspection.index.bytesUsed) bytes used; entries: \(entries)")
        }
        if inspection.consumers.isEmpty { print("  consumers: none") }
        for consumer in inspection.consumers {
            print("  consumer \(consumer.name): delivered up to \(consumer.deliveredStreamSequence), acknowledged up to \(consumer.ackFloorStreamSequence), \(consumer.pending) pending")
        }
    }

    private func parseTime(_ text: String?) throws -> Int64? {
        guard let text else { return nil }
        if let ns = Int64(text) { return ns }
        if let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text)) {
            return Int64(date.timeIntervalSince1970 * 1e9)
        }
        throw ValidationError("'\(text)' is not a time (ISO 8601 or nanoseconds since the epoch)")
    }

    private func listMessages(_ directory: String) throws {
        let stream = try FileStream.openReadOnly(directory: directory)
        defer { stream.close() }
        let sinceTime = try parseTime(since), untilTime = try parseTime(until)
        var next = from
        if let sinceTime, let first = try stream.firstSequence(atOrAfterTime: sinceTime) { next = max(next, first) }
        var lines: [MessageLine] = []
        outer: while lines.count < limit {
            let batch = try stream.messages(from: next, filter: subject, limit: min(1000, limit - lines.count))
            if batch.isEmpty { break }
            for message in batch {
                if let to, message.sequence > to { break outer }
                if let untilTime, message.timestamp >= untilTime { break outer }
                if let sinceTime, message.timestamp < sinceTime { continue }
                lines.append(line(message))
                if raw && !json {
                    OutputDescriptor.standardOutput.write(message.payload)
                    OutputDescriptor.standardOutput.write("\n".utf8)
                }
            }
            next = batch.last!.sequence + 1
        }
        if json { try printJSON(lines); return }
        if raw { return }
        for line in lines {
            print("#\(line.sequence) \(line.time) \(line.subject) (\(line.payloadBytes) bytes)")
            if let headers = line.headers { print("  headers: \(headers)") }
            if let payload = line.payload { print("  \(payload)") }
        }
    }

    private func line(_ message: StoredMessage) -> MessageLine {
        let shown: [UInt8]? = payload == .none ? nil : payload == .full ? Array(message.payload) : Array(message.payload.prefix(64))
        let text = shown.map { bytes in
            String(decoding: bytes, as: UTF8.self).unicodeScalars.map { $0.value < 32 || $0.value == 127 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
                + (payload == .preview && message.payload.count > 64 ? "…" : "")
        }
        return MessageLine(sequence: message.sequence, time: formatTime(message.timestamp), subject: message.subject,
                           headers: message.headers.isEmpty ? nil : String(decoding: message.headers, as: UTF8.self),
                           payloadBytes: message.payload.count, payload: text)
    }

    private func listConsumers(_ directory: String) throws {
        let inspection = try StreamInspector.inspect(directory: directory)
        if json { try printJSON(inspection.consumers); return }
        if inspection.consumers.isEmpty { print("no consumers") }
        for consumer in inspection.consumers {
            print("\(consumer.name)\tdelivered \(consumer.deliveredStreamSequence)\tack floor \(consumer.ackFloorStreamSequence)\tpending \(consumer.pending)")
        }
    }

    private func listSubjects(_ directory: String) throws {
        let stream = try FileStream.openReadOnly(directory: directory)
        defer { stream.close() }
        let counts = try stream.subjectCounts(filter: subject)
        if json { try printJSON(counts); return }
        for (name, count) in counts.sorted(by: { $0.key < $1.key }) { print("\(count)\t\(name)") }
    }
}
