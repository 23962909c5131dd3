import ArgumentParser
import Foundation

/// How an online command reaches its server: `-s/--server` (default `NATS_URL`, else
/// nats://127.0.0.1:4222, as the nats CLI), and the clients' credentials.
struct ServerOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Server URL (default: $NATS_URL or nats://127.0.0.1:4222).")
    var server: String = ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
    @Option(help: "User name.") var user: String?
    @Option(help: "Password.") var password: String?
    @Option(help: "Authorization token.") var token: String?
    @Option(help: "Seconds to wait for the server.") var timeout: Double = 5

    func connect() throws -> NATSClient {
        do {
            return try NATSClient(url: server, user: user, password: password, token: token, timeout: timeout)
        } catch {
            throw OnlineFailure("\(error)")
        }
    }
}

/// A failure the user sees as one line on stderr, with exit status 1.
struct OnlineFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("strata: \(error)\n".utf8))
    return ExitCode.failure
}

/// `strata server info|ping`.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "A running server: its INFO, its round trip.",
                                                    subcommands: [Info.self, Ping.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The server's INFO (JSON).")
        @OptionGroup var options: ServerOptions
        func run() throws {
            do {
                let client = try options.connect()
                let object = try JSONSerialization.jsonObject(with: Data(client.info.utf8))
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
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
                for i in 1...max(1, count) {
                    print(String(format: "ping %d: %.3f ms", i, try client.ping(timeout: options.timeout) * 1000))
                }
            } catch { throw fail(error) }
        }
    }
}

/// `strata pub SUBJECT BODY [--count N]`.
struct Pub: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish a message.")
    @OptionGroup var options: ServerOptions
    @Argument var subject: String
    @Argument var body: String = ""
    @Option(name: [.short, .long]) var count = 1
    func run() throws {
        do {
            let client = try options.connect()
            for _ in 0..<max(1, count) { try client.publish(subject, Array(body.utf8)) }
            _ = try client.ping(timeout: options.timeout)  // (the server has taken them all)
            print("published \(max(1, count)) message(s) to \(subject)")
        } catch { throw fail(error) }
    }
}

/// `strata request SUBJECT BODY`.
struct Request: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a request and print the reply.")
    @OptionGroup var options: ServerOptions
    @Argument var subject: String
    @Argument var body: String = ""
    func run() throws {
        do {
            let reply = try options.connect().request(subject, Array(body.utf8), timeout: options.timeout)
            print(String(decoding: reply.payload, as: UTF8.self))
        } catch { throw fail(error) }
    }
}

/// `strata stream ls|info|add|rm`, through the JetStream API.
struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stream", abstract: "Manage JetStream streams on a running server.",
                                                    subcommands: [List.self, Info.self, Add.self, Remove.self])

    /// A JetStream API call: the reply's JSON, or its error's description as the failure.
    static func api(_ options: ServerOptions, _ subject: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        let client = try options.connect()
        let payload = body.isEmpty ? [] : Array(try JSONSerialization.data(withJSONObject: body))
        let reply = try client.request("$JS.API." + subject, payload, timeout: options.timeout)
        guard let object = try JSONSerialization.jsonObject(with: Data(reply.payload)) as? [String: Any] else {
            throw OnlineFailure("the server's reply is not a JSON object")
        }
        if let error = object["error"] as? [String: Any] {
            throw OnlineFailure("\(error["description"] ?? "error") (\(error["err_code"] ?? error["code"] ?? "?"))")
        }
        return object
    }

    static func printJSON(_ object: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Stream names.")
        @OptionGroup var options: ServerOptions
        @Flag var json = false
        func run() throws {
            do {
                let names = (try StreamCommand.api(options, "STREAM.NAMES")["streams"] as? [String]) ?? []
                if json { try StreamCommand.printJSON(names) } else { names.forEach { print($0) } }
            } catch { throw fail(error) }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A stream's configuration and state.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @Flag var json = false
        func run() throws {
            do {
                let info = try StreamCommand.api(options, "STREAM.INFO." + name)
                if json { try StreamCommand.printJSON(info); return }
                let state = info["state"] as? [String: Any] ?? [:]
                let config = info["config"] as? [String: Any] ?? [:]
                print("Stream \(name)")
                print("  subjects: \((config["subjects"] as? [String] ?? []).joined(separator: ", "))")
                print("  storage: \(config["storage"] ?? "?"), retention: \(config["retention"] ?? "?")")
                print("  messages: \(state["messages"] ?? 0), bytes: \(state["bytes"] ?? 0), first: \(state["first_seq"] ?? 0), last: \(state["last_seq"] ?? 0), consumers: \(state["consumer_count"] ?? 0)")
            } catch { throw fail(error) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a stream.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        @Option(help: "Subjects, comma-separated.") var subjects: String
        @Option(help: "file or memory.") var storage = "file"
        @Option(help: "limits, interest or workqueue.") var retention = "limits"
        @Flag var json = false
        func run() throws {
            do {
                let body: [String: Any] = ["name": name, "subjects": subjects.split(separator: ",").map(String.init),
                                           "storage": storage, "retention": retention]
                let info = try StreamCommand.api(options, "STREAM.CREATE." + name, body)
                if json { try StreamCommand.printJSON(info) } else { print("stream \(name) created") }
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a stream and its messages.")
        @OptionGroup var options: ServerOptions
        @Argument var name: String
        func run() throws {
            do {
                _ = try StreamCommand.api(options, "STREAM.DELETE." + name)
                print("stream \(name) deleted")
            } catch { throw fail(error) }
        }
    }
}
