import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import DynamicJSON

/// `strata kv ls|add|get|put|del|watch|history`: JetStream key-value buckets, stored as nats.go and
/// nats-py store them (stream `KV_<bucket>` on `$KV.<bucket>.>`, a delete is a `KV-Operation: DEL` marker).
struct KVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kv", abstract: "Key-value buckets on a running server.",
                                                    subcommands: [List.self, Add.self, Get.self, Put.self, Delete.self, Watch.self, History.self])

    static func stream(_ bucket: String) -> String { "KV_" + bucket }
    static func subject(_ bucket: String, _ key: String) -> String { "$KV.\(bucket).\(key)" }

    /// `PUT`, `DEL` or `PURGE` of a stored entry.
    static func operation(_ header: String?) -> String { header?.uppercased() ?? "PUT" }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Bucket names.")
        @OptionGroup var options: ServerOptions
        func run() throws {
            do {
                let names = (try JetStreamAPI(options).call("STREAM.NAMES")["streams"] as? [String]) ?? []
                let buckets = names.filter { $0.hasPrefix("KV_") }.map { String($0.dropFirst(3)) }.sorted()
                try options.output(buckets) { buckets.joined(separator: "\n") }
            } catch { throw fail(error) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a bucket.")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Option(help: "Values kept per key.") var history = 1
        @Option(help: "How long a value lives, as a Go duration (0: forever).") var ttl = "0"
        @Option(help: "Most bytes the bucket holds (-1: unlimited).") var maxBytes = -1
        @Option(help: "file or memory.") var storage = "file"
        func run() throws {
            do {
                let ttl = try StreamCommand.Limits.nanoseconds(self.ttl, "--ttl")
                let twoMinutes: Int64 = 120_000_000_000
                let config: [String: Any] = [
                    "name": KVCommand.stream(bucket), "subjects": ["$KV.\(bucket).>"], "max_msgs_per_subject": history,
                    "max_bytes": maxBytes, "max_age": ttl, "max_msg_size": -1, "max_msgs": -1, "max_consumers": -1,
                    "storage": storage, "num_replicas": 1, "allow_rollup_hdrs": true, "deny_delete": true, "discard": "new",
                    "duplicate_window": ttl > 0 && ttl < twoMinutes ? ttl : twoMinutes, "allow_direct": true, "retention": "limits",
                ]
                let info = try JetStreamAPI(options).call("STREAM.CREATE." + KVCommand.stream(bucket), config)
                try options.output(info) { "bucket \(bucket) created (history \(history))" }
            } catch { throw fail(error) }
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a value; prints its revision.")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Argument var key: String
        @Argument var value: String
        func run() throws {
            do {
                let revision = try KVCommand.store(options, bucket, key, Array(value.utf8), headers: [])
                try options.output(["bucket": bucket, "key": key, "revision": revision]) { "\(revision)" }
            } catch { throw fail(error) }
        }
    }

    /// Publishes to a key and waits for the stream's ack: the new revision.
    static func store(_ options: ServerOptions, _ bucket: String, _ key: String, _ value: [UInt8], headers: [(String, String)]) throws -> Int {
        let client = try options.connect()
        let reply: NATSClient.Message
        do {
            reply = try client.request(subject(bucket, key), value, headers: headers, timeout: options.timeout)
        } catch let failure as NATSClient.Failure where failure.description.hasPrefix("no responders") {
            throw OnlineFailure("no bucket \(bucket) (no stream takes \(subject(bucket, key)))")
        }
        guard let ack = JSONReader.object(reply.payload) else {
            throw OnlineFailure("the server's reply is not a publish acknowledgement")
        }
        if let error = ack["error"] as? [String: Any] {
            throw OnlineFailure("\(error["description"] ?? "error") (\(error["err_code"] ?? "?"))")
        }
        return ack["seq"] as? Int ?? 0
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A key's current value.")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Argument var key: String
        @Flag(help: "Only the value.") var raw = false
        func run() throws {
            do {
                let api = try JetStreamAPI(options)
                guard let entry = try api.message(stream: KVCommand.stream(bucket), ["last_by_subj": KVCommand.subject(bucket, key)]),
                      KVCommand.operation(entry.header("KV-Operation")) == "PUT" else {
                    throw OnlineFailure("key not found: \(bucket) > \(key)")
                }
                if raw { OutputDescriptor.standardOutput.write(entry.data); return }
                try options.output(["bucket": bucket, "key": key, "revision": entry.sequence, "created": entry.time,
                                    "value": String(decoding: entry.data, as: UTF8.self)]) {
                    "\(bucket) > \(key) revision: \(entry.sequence) created @ \(entry.time)\n\n\(String(decoding: entry.data, as: UTF8.self))"
                }
            } catch { throw fail(error) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "del", abstract: "Delete a key (its history stays until it ages out).")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Argument var key: String
        func run() throws {
            do {
                let revision = try KVCommand.store(options, bucket, key, [], headers: [("KV-Operation", "DEL")])
                try options.output(["bucket": bucket, "key": key, "revision": revision]) { "deleted \(bucket) > \(key)" }
            } catch { throw fail(error) }
        }
    }

    /// One entry as `history` and `watch` print it.
    static func show(_ message: NATSClient.Message, bucket: String, json: Bool) throws {
        let key = String(message.subject.dropFirst("$KV.\(bucket).".count))
        let operation = Self.operation(message.header("KV-Operation"))
        let revision = message.streamSequence ?? 0
        if json {
            emit(JSONWriter().text(["key": key, "operation": operation, "revision": revision, "value": message.text]))
        } else {
            emit("[\(revision)] \(operation) \(bucket) > \(key)\(operation == "PUT" ? ": " + message.text : "")")
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every kept value of a key, oldest first.")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Argument var key: String
        func run() throws {
            do {
                var shown = 0
                try StreamReader(api: try JetStreamAPI(options), stream: KVCommand.stream(bucket), filter: KVCommand.subject(bucket, key))
                    .read(follow: false, idle: 0) { message, _ in
                        shown += 1
                        try KVCommand.show(message, bucket: bucket, json: options.json)
                        return true
                    }
                if shown == 0 { throw OnlineFailure("key not found: \(bucket) > \(key)") }
            } catch { throw fail(error) }
        }
    }

    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each key's latest value, then every change as it happens.")
        @OptionGroup var options: ServerOptions
        @Argument var bucket: String
        @Argument var key: String = ">"
        @Option(name: [.short, .long], help: "Stop after this many entries (0: until interrupted).") var count = 0
        @Option(help: "Stop when nothing changed for this many seconds (0: never).") var idle: Double = 0
        func run() throws {
            do {
                var shown = 0
                try StreamReader(api: try JetStreamAPI(options), stream: KVCommand.stream(bucket), filter: KVCommand.subject(bucket, key),
                                 deliverPolicy: "last_per_subject")
                    .read(follow: true, idle: idle, ready: { if !options.json { emit("watching \(bucket) > \(key)") } }) { message, _ in
                        shown += 1
                        try KVCommand.show(message, bucket: bucket, json: options.json)
                        return count == 0 || shown < count
                    }
            } catch { throw fail(error) }
        }
    }
}
