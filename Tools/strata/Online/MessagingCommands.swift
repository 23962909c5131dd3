import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import Platform

/// `-H 'Name: value'` headers of the messaging commands.
struct HeaderOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .long], help: "A header, 'Name: value' (repeatable).") var header: [String] = []

    func parsed() throws -> [(String, String)] {
        try header.map { text in
            guard let colon = text.firstIndex(of: ":") else { throw OnlineFailure("a header is 'Name: value', not \(text)") }
            return (String(text[..<colon]).trimmingWhitespace(), text[text.index(after: colon)...].trimmingWhitespace())
        }
    }
}

/// `strata pub SUBJECT BODY [--count N] [-H 'Name: value']`.
struct Pub: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish a message.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var headers: HeaderOptions
    @Argument var subject: String
    @Argument var body: String = ""
    @Option(name: [.short, .long]) var count = 1
    func run() throws {
        do {
            let client = try options.connect()
            let headers = try self.headers.parsed()
            for _ in 0..<max(1, count) { try client.publish(subject, Array(body.utf8), headers: headers) }
            _ = try client.ping(timeout: options.timeout)  // (the server has taken them all)
            try options.output(["subject": subject, "published": max(1, count)]) { "published \(max(1, count)) message(s) to \(subject)" }
        } catch { throw fail(error) }
    }
}

/// `strata sub SUBJECT [--count N] [--queue Q]`: prints messages as they arrive.
struct Sub: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe and print messages.")
    @OptionGroup var options: ServerOptions
    @Argument var subject: String
    @Option(help: "Join this queue group.") var queue: String?
    @Option(name: [.short, .long], help: "Stop after this many messages (0: until interrupted).") var count = 0
    @Option(help: "Stop when no message came for this many seconds (0: never).") var idle: Double = 0
    func run() throws {
        do {
            let client = try options.connect()
            _ = try queue.map { try client.subscribe(subject, queue: $0) } ?? client.subscribe(subject)
            _ = try client.ping(timeout: options.timeout)  // (the subscription is in place before "subscribed")
            if !options.json { emit("subscribed to \(subject)") }
            var received = 0
            while count == 0 || received < count {
                guard let message = try client.nextMessage(timeout: idle > 0 ? idle : 3600) else {
                    if idle > 0 { break } else { continue }
                }
                received += 1
                if options.json {
                    var object: [String: Any] = ["subject": message.subject, "data": message.text]
                    if let reply = message.reply { object["reply"] = reply }
                    if let headers = message.headers { object["headers"] = String(decoding: headers, as: UTF8.self) }
                    emit(JSONWriter().text(object))
                } else {
                    emit("[#\(received)] \(message.subject): \(message.text)")
                }
            }
        } catch { throw fail(error) }
    }
}

/// `strata request SUBJECT BODY`.
struct Request: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a request and print the reply.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var headers: HeaderOptions
    @Argument var subject: String
    @Argument var body: String = ""
    func run() throws {
        do {
            let reply = try options.connect().request(subject, Array(body.utf8), headers: try headers.parsed(), timeout: options.timeout)
            try options.output(["subject": reply.subject, "data": reply.text]) { reply.text }
        } catch { throw fail(error) }
    }
}

/// `strata reply SUBJECT BODY [--count N] [--queue Q]`: answers requests with BODY, printing each.
/// `{{subject}}` and `{{data}}` in BODY are replaced by the request's.
struct Reply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer requests on a subject.")
    @OptionGroup var options: ServerOptions
    @Argument var subject: String
    @Argument var body: String = ""
    @Option(help: "Join this queue group (default: strata-reply, as a service would).") var queue = "strata-reply"
    @Option(name: [.short, .long], help: "Stop after this many requests (0: until interrupted).") var count = 0
    func run() throws {
        do {
            let client = try options.connect()
            _ = try client.subscribe(subject, queue: queue)
            _ = try client.ping(timeout: options.timeout)
            if !options.json { emit("replying on \(subject)") }
            var answered = 0
            while count == 0 || answered < count {
                guard let request = try client.nextMessage(timeout: 3600) else { continue }
                guard let reply = request.reply else { continue }  // (a plain publish asks for nothing)
                let answer = body.replacing("{{subject}}", with: request.subject).replacing("{{data}}", with: request.text)
                try client.publish(reply, Array(answer.utf8))
                answered += 1
                if options.json {
                    emit(JSONWriter().text(["subject": request.subject, "data": request.text]))
                } else {
                    emit("[#\(answered)] \(request.subject): \(request.text)")
                }
            }
            _ = try client.ping(timeout: options.timeout)  // (the last answer reached the server)
        } catch { throw fail(error) }
    }
}
