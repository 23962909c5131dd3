import ArgumentParser
import Foundation

/// `strata sub SUBJECT [--count N]`: prints messages as they arrive.
struct Sub: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe and print messages.")
    @OptionGroup var options: ServerOptions
    @Argument var subject: String
    @Option(name: [.short, .long], help: "Stop after this many messages (0: until interrupted).") var count = 0
    @Option(help: "Stop when no message came for this many seconds (0: never).") var idle: Double = 0
    func run() throws {
        do {
            let client = try options.connect()
            _ = try client.subscribe(subject)
            _ = try client.ping(timeout: options.timeout)  // (the subscription is in place before "subscribed")
            FileHandle.standardOutput.write(Data("subscribed to \(subject)\n".utf8))
            var received = 0
            while count == 0 || received < count {
                guard let message = try client.nextMessage(timeout: idle > 0 ? idle : 3600) else {
                    if idle > 0 { break } else { continue }
                }
                received += 1
                // (written straight to the file descriptor: a pipe sees each message as it arrives)
                FileHandle.standardOutput.write(Data("[#\(received)] \(message.subject): \(String(decoding: message.payload, as: UTF8.self))\n".utf8))
            }
        } catch { throw fail(error) }
    }
}

/// `strata consumer ls|info|next`, through the JetStream API.
struct ConsumerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consumer", abstract: "Inspect and read JetStream consumers on a running server.",
                                                    subcommands: [List.self, Info.self, Next.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "A stream's consumer names.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Flag var json = false
        func run() throws {
            do {
                let names = (try StreamCommand.api(options, "CONSUMER.NAMES." + stream)["consumers"] as? [String]) ?? []
                if json { try StreamCommand.printJSON(names) } else { names.forEach { print($0) } }
            } catch { throw fail(error) }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A consumer's configuration and state.")
        @OptionGroup var options: ServerOptions
        @Argument var stream: String
        @Argument var consumer: String
        @Flag var json = false
        func run() throws {
            do {
                let info = try StreamCommand.api(options, "CONSUMER.INFO.\(stream).\(consumer)")
                if json { try StreamCommand.printJSON(info); return }
                print("Consumer \(stream) > \(consumer)")
                print("  pending: \(info["num_pending"] ?? 0), ack pending: \(info["num_ack_pending"] ?? 0), redelivered: \(info["num_redelivered"] ?? 0), waiting: \(info["num_waiting"] ?? 0)")
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
                let request = try JSONSerialization.data(withJSONObject: ["batch": count, "expires": Int64(options.timeout * 1e9)])
                try client.publish("$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)", Array(request), reply: inbox)
                var received = 0
                while received < count, let message = try client.nextMessage(timeout: options.timeout + 1) {
                    if let headers = message.headers, message.payload.isEmpty,
                       let status = String(decoding: headers, as: UTF8.self).split(separator: "\r\n").first, status.hasPrefix("NATS/1.0 4") {
                        break  // (404 no messages, 408 request expired)
                    }
                    received += 1
                    print("[#\(received)] \(message.subject): \(String(decoding: message.payload, as: UTF8.self))")
                    if !noAck, let reply = message.reply { try client.publish(reply, Array("+ACK".utf8)) }
                }
                _ = try client.ping(timeout: options.timeout)  // (the acks reached the server)
                if received == 0 { throw OnlineFailure("no messages for \(stream) > \(consumer)") }
            } catch { throw fail(error) }
        }
    }
}
