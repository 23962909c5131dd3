import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON

/// `strata consumer ls|info|add|rm|next`, through the JetStream API.
struct ConsumerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consumer", abstract: "Manage and read JetStream consumers on a running server.",
                                                    subcommands: [List.self, Info.self, Add.self, Remove.self, Next.self])

    static func describe(_ info: [String: Any], stream: String, name: String) -> String {
        let config = info["config"] as? [String: Any] ?? [:]
        return """
        Consumer \(stream) > \(name)
          \(config["deliver_subject"].map { "push to \($0)" } ?? "pull"), ack: \(config["ack_policy"] ?? "?"), deliver: \(config["deliver_policy"] ?? "?")\(config["filter_subject"].map { ", filter: \($0)" } ?? "")
          pending: \(info["num_pending"] ?? 0), ack pending: \(info["num_ack_pending"] ?? 0), redelivered: \(info["num_redelivered"] ?? 0), waiting: \(info["num_waiting"] ?? 0)
        """
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "A stream's consumer names.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        func run() throws {
            do {
                let names = (try JetStreamAPI(options).call("CONSUMER.NAMES." + stream)["consumers"] as? [String]) ?? []
                try options.output(names) { names.joined(separator: "\n") }
            } catch { throw fail(error) }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A consumer's configuration and state.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Argument var consumer: String
        func run() throws {
            do {
                let info = try JetStreamAPI(options).call("CONSUMER.INFO.\(stream).\(consumer)")
                try options.output(info) { ConsumerCommand.describe(info, stream: stream, name: consumer) }
            } catch { throw fail(error) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a durable consumer (on a terminal, asks for what is not given).")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Argument var name: String
        @Option(help: "Only messages on subjects matching this.") var filter: String?
        @Option(help: "explicit, all or none.") var ack: String?
        @Option(help: "all, last, new, last_per_subject.") var deliver: String?
        @Option(help: "Push: deliver to this subject (default: a pull consumer).") var target: String?
        @Option(help: "Push: deliver to this queue group.") var deliverGroup: String?
        @Option(help: "Most deliveries of one message (-1: unlimited).") var maxDeliver: Int?
        @Option(help: "Ack wait, as a Go duration.") var wait: String?
        @Option(help: "Most unacknowledged messages outstanding.") var maxPending: Int?
        @Option(help: "A description.") var description: String?
        func run() throws {
            do {
                var config: [String: Any] = ["durable_name": name, "replay_policy": "instant"]
                config["ack_policy"] = ack ?? ask("Acknowledgement policy (explicit, all, none)", default: "explicit")
                config["deliver_policy"] = deliver ?? ask("Deliver policy (all, last, new, last_per_subject)", default: "all")
                let filter = self.filter ?? ask("Filter subject (empty: all)", default: "")
                if !filter.isEmpty { config["filter_subject"] = filter }
                if let target { config["deliver_subject"] = target }
                if let deliverGroup { config["deliver_group"] = deliverGroup }
                if let maxDeliver { config["max_deliver"] = maxDeliver }
                if let maxPending { config["max_ack_pending"] = maxPending }
                if let description { config["description"] = description }
                if let wait { config["ack_wait"] = try StreamCommand.Limits.nanoseconds(wait, "--wait") }
                let info = try JetStreamAPI(options).call("CONSUMER.DURABLE.CREATE.\(stream).\(name)", ["stream_name": stream, "config": config])
                try options.output(info) { "consumer \(stream) > \(name) created\n" + ConsumerCommand.describe(info, stream: stream, name: name) }
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a consumer.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Argument var consumer: String
        func run() throws {
            do {
                let reply = try JetStreamAPI(options).call("CONSUMER.DELETE.\(stream).\(consumer)")
                try options.output(reply) { "consumer \(stream) > \(consumer) deleted" }
            } catch { throw fail(error) }
        }
    }

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch messages from a pull consumer and acknowledge them.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Argument var consumer: String
        @Option(name: [.short, .long]) var count = 1
        @Flag(help: "Do not acknowledge what is fetched.") var noAck = false
        func run() throws {
            do {
                let client = try options.connect()
                let inbox = "_INBOX.strata.next.\(UInt64.random(in: 1...UInt64.max))"
                _ = try client.subscribe(inbox)
                let request = JSONWriter().bytes(["batch": count, "expires": Int64(options.timeout * 1e9)])
                try client.publish("$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)", Array(request), reply: inbox)
                var received = 0
                while received < count, let message = try client.nextMessage(timeout: options.timeout + 1) {
                    if let status = message.status, message.payload.isEmpty {
                        if status == 404 || status == 408 { break }  // (no messages, request expired)
                        throw OnlineFailure("the server answered \(message.statusLine ?? String(status))")
                    }
                    received += 1
                    if options.json {
                        try printJSONObject(["subject": message.subject, "data": message.text])
                    } else {
                        emit("[#\(received)] \(message.subject): \(message.text)")
                    }
                    if !noAck, let reply = message.reply { try client.publish(reply, Array("+ACK".utf8)) }
                }
                _ = try client.ping(timeout: options.timeout)  // (the acks reached the server)
                if received == 0 { throw OnlineFailure("no messages for \(stream) > \(consumer)") }
            } catch { throw fail(error) }
        }
    }
}
