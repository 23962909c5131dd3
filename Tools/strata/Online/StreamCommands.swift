import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NATSConfig

/// `strata stream ls|info|add|edit|rm|purge|get|view`, through the JetStream API, shaped after the nats
/// CLI's verbs and flags.
struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stream", abstract: "Manage JetStream streams on a running server.",
                                                    subcommands: [List.self, Info.self, Add.self, Edit.self, Remove.self, Purge.self,
                                                                  Get.self, View.self])

    /// Limits given on the command line, as stream config fields (only those given).
    struct Limits: ParsableArguments {
        @Option(help: "Subjects, comma-separated.") var subjects: String?
        @Option(help: "Most messages kept (-1: unlimited).") var maxMsgs: Int?
        @Option(help: "Most bytes kept (-1: unlimited).") var maxBytes: Int?
        @Option(help: "Oldest message kept, as a Go duration (1h, 30m; 0: unlimited).") var maxAge: String?
        @Option(help: "Most messages kept per subject.") var maxMsgsPerSubject: Int?
        @Option(help: "Largest message accepted.") var maxMsgSize: Int?
        @Option(help: "old or new: what goes when a limit is reached.") var discard: String?
        @Option(help: "Duplicate-tracking window, as a Go duration.") var dupeWindow: String?
        @Option(help: "A description.") var description: String?

        func apply(to config: inout [String: Any]) throws {
            if let subjects { config["subjects"] = subjects.split(separator: ",").map(String.init) }
            if let maxMsgs { config["max_msgs"] = maxMsgs }
            if let maxBytes { config["max_bytes"] = maxBytes }
            if let maxMsgsPerSubject { config["max_msgs_per_subject"] = maxMsgsPerSubject }
            if let maxMsgSize { config["max_msg_size"] = maxMsgSize }
            if let discard { config["discard"] = discard }
            if let description { config["description"] = description }
            if let maxAge { config["max_age"] = try Self.nanoseconds(maxAge, "--max-age") }
            if let dupeWindow { config["duplicate_window"] = try Self.nanoseconds(dupeWindow, "--dupe-window") }
        }

        static func nanoseconds(_ text: String, _ flag: String) throws -> Int64 {
            if text == "0" { return 0 }
            guard let seconds = GoDuration.seconds(text) else { throw OnlineFailure("\(flag): \(text) is not a duration (1h, 30m, 10s)") }
            return Int64(seconds * 1e9)
        }
    }

    static func describe(_ info: [String: Any], name: String) -> String {
        let state = info["state"] as? [String: Any] ?? [:]
        let config = info["config"] as? [String: Any] ?? [:]
        return """
        Stream \(name)
          subjects: \((config["subjects"] as? [String] ?? []).joined(separator: ", "))
          storage: \(config["storage"] ?? "?"), retention: \(config["retention"] ?? "?"), max messages: \(config["max_msgs"] ?? -1), max bytes: \(config["max_bytes"] ?? -1)
          messages: \(state["messages"] ?? 0), bytes: \(state["bytes"] ?? 0), first: \(state["first_seq"] ?? 0), last: \(state["last_seq"] ?? 0), consumers: \(state["consumer_count"] ?? 0)
        """
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Stream names.")
        @OptionGroup var options: ServerOptions
        func run() throws {
            do {
                let names = (try JetStreamAPI(options).call("STREAM.NAMES")["streams"] as? [String]) ?? []
                try options.output(names) { names.joined(separator: "\n") }
            } catch { throw fail(error) }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A stream's configuration and state.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        func run() throws {
            do {
                let info = try JetStreamAPI(options).call("STREAM.INFO." + name)
                try options.output(info) { StreamCommand.describe(info, name: name) }
            } catch { throw fail(error) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a stream (on a terminal, asks for what is not given).")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @OptionGroup var limits: Limits
        @Option(help: "file or memory.") var storage: String?
        @Option(help: "limits, interest or workqueue.") var retention: String?
        func run() throws {
            do {
                var config: [String: Any] = ["name": name, "num_replicas": 1]
                var limits = self.limits
                if limits.subjects == nil { limits.subjects = ask("Subjects", default: name) }
                config["storage"] = storage ?? ask("Storage (file, memory)", default: "file")
                config["retention"] = retention ?? ask("Retention (limits, interest, workqueue)", default: "limits")
                try limits.apply(to: &config)
                let info = try JetStreamAPI(options).call("STREAM.CREATE." + name, config)
                try options.output(info) { "stream \(name) created\n" + StreamCommand.describe(info, name: name) }
            } catch { throw fail(error) }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a stream's subjects and limits.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @OptionGroup var limits: Limits
        func run() throws {
            do {
                let api = try JetStreamAPI(options)
                guard var config = try api.call("STREAM.INFO." + name)["config"] as? [String: Any] else {
                    throw OnlineFailure("the server's stream info has no config")
                }
                try limits.apply(to: &config)
                let info = try api.call("STREAM.UPDATE." + name, config)
                try options.output(info) { "stream \(name) updated\n" + StreamCommand.describe(info, name: name) }
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a stream and its messages.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        func run() throws {
            do {
                let reply = try JetStreamAPI(options).call("STREAM.DELETE." + name)
                try options.output(reply) { "stream \(name) deleted" }
            } catch { throw fail(error) }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a stream's messages (all, or by subject, keep or sequence).")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @Option(help: "Only messages on this subject.") var subject: String?
        @Option(help: "Keep this many of the newest.") var keep: Int?
        @Option(help: "Remove those below this sequence.") var seq: Int?
        func run() throws {
            do {
                var request: [String: Any] = [:]
                if let subject { request["filter"] = subject }
                if let keep { request["keep"] = keep }
                if let seq { request["seq"] = seq }
                let reply = try JetStreamAPI(options).call("STREAM.PURGE." + name, request.isEmpty ? nil : request)
                try options.output(reply) { "purged \(reply["purged"] ?? 0) message(s) from \(name)" }
            } catch { throw fail(error) }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One stored message, by sequence or the last on a subject.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @Argument var sequence: Int?
        @Option(help: "The last message on this subject instead.") var lastFor: String?
        @Flag(help: "Only the data.") var raw = false
        func run() throws {
            do {
                guard sequence != nil || lastFor != nil else { throw OnlineFailure("give a sequence or --last-for SUBJECT") }
                let request: [String: Any] = lastFor.map { ["last_by_subj": $0] } ?? ["seq": sequence!]
                guard let message = try JetStreamAPI(options).message(stream: name, request) else {
                    throw OnlineFailure("no message found (10037)")
                }
                if raw { OutputDescriptor.standardOutput.write(message.data); return }
                try options.output(message.json) {
                    var text = "Item: \(name)#\(message.sequence) received \(message.time) on subject \(message.subject)\n"
                    if !message.headers.isEmpty {
                        text += "\nHeaders:\n" + String(decoding: message.headers, as: UTF8.self).split(separator: "\r\n").dropFirst().map { "  \($0)" }.joined(separator: "\n") + "\n"
                    }
                    return text + "\n" + String(decoding: message.data, as: UTF8.self)
                }
            } catch { throw fail(error) }
        }
    }

    struct View: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a stream's messages in order.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @Option(help: "Only messages on subjects matching this.") var subject: String?
        @Option(name: [.short, .long], help: "At most this many (0: all).") var count = 0
        func run() throws {
            do {
                var shown = 0
                try StreamReader(api: try JetStreamAPI(options), stream: name, filter: subject).read(follow: false, idle: 0) { message, _ in
                    shown += 1
                    let sequence = message.streamSequence ?? 0
                    if options.json {
                        try printJSONObject(["subject": message.subject, "seq": sequence, "data": message.text])
                    } else {
                        emit("[\(sequence)] \(message.subject): \(message.text)")
                    }
                    return count == 0 || shown < count
                }
            } catch { throw fail(error) }
        }
    }
}
