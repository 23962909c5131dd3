import ArgumentParser
import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import Platform

/// How an online command reaches its server: `-s/--server` (default `NATS_URL`, else
/// nats://127.0.0.1:4222, as the nats CLI), and the clients' credentials: user and password, token, or an
/// NKey seed file; TLS with a CA and a client certificate.
struct ServerOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Server URL (default: $NATS_URL or nats://127.0.0.1:4222).")
    var server: String = ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
    @Option(help: "User name.") var user: String?
    @Option(help: "Password.") var password: String?
    @Option(help: "Authorization token.") var token: String?
    @Option(help: "A file holding a user's NKey seed (SU…).") var nkey: String?
    @Option(help: "TLS: the CA certificate (PEM) to trust instead of the system's.") var tlsca: String?
    @Option(help: "TLS: a client certificate (PEM), for servers that verify clients.") var tlscert: String?
    @Option(help: "TLS: the client certificate's key (PEM).") var tlskey: String?
    @Option(help: "Seconds to wait for the server.") var timeout: Double = 5
    @Flag(help: "Print JSON, for scripts.") var json = false

    func connect() throws -> NATSClient {
        var seed: NKeySeed?
        if let nkey {
            guard let text = try? String(contentsOfFile: nkey, encoding: .utf8) else { throw OnlineFailure("cannot read the NKey seed file \(nkey)") }
            do { seed = try NKeySeed(text) } catch { throw OnlineFailure("\(nkey) does not hold a user's NKey seed (\(error))") }
        }
        do {
            let tls = TLSFiles(ca: tlsca, certificate: tlscert, key: tlskey, required: tlsca != nil || tlscert != nil)
            return try NATSClient(url: server, user: user, password: password, token: token, nkey: seed, tls: tls, timeout: timeout)
        } catch {
            throw OnlineFailure("\(error)")
        }
    }

    /// Prints `object` as JSON with `--json`, else the text `human` makes.
    func output(_ object: Any, _ human: () -> String) throws {
        if json { try printJSONObject(object) } else { print(human()) }
    }
}

/// A failure the user sees as one line on stderr, with exit status 1.
struct OnlineFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func fail(_ error: Error) -> ExitCode {
    OutputDescriptor.standardError.write("strata: \(error)\n".utf8)
    return ExitCode.failure
}

func printJSONObject(_ object: Any) throws {
    print(JSONWriter(pretty: true).text(object))
}

/// One line on standard output, written at once (a pipe sees each line as it comes).
func emit(_ line: String) {
    OutputDescriptor.standardOutput.write((line + "\n").utf8)
}

/// Asks for a value on a terminal; without one (a script, a pipe) the default is taken without asking.
func ask(_ question: String, default value: String) -> String {
    guard isatty(0) != 0 && isatty(1) != 0 else { return value }
    OutputDescriptor.standardOutput.write("\(question) [\(value)]: ".utf8)
    guard let answer = readLine()?.trimmingWhitespace(), !answer.isEmpty else { return value }
    return answer
}

/// The JetStream API over one connection: a request per call, the reply's JSON, or its error as the
/// failure (`description (err_code)`, the server's words).
final class JetStreamAPI {
    let client: NATSClient
    let options: ServerOptions

    init(_ options: ServerOptions) throws {
        self.options = options
        client = try options.connect()
    }

    func call(_ subject: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        // (try?: the bodies are built here from strings, numbers, arrays and maps, which always encode)
        let payload = body.map { JSONWriter().bytes($0) } ?? []
        let reply: NATSClient.Message
        do {
            reply = try client.request("$JS.API." + subject, payload, timeout: options.timeout)
        } catch let failure as NATSClient.Failure where failure.description.hasPrefix("no responders") {
            throw OnlineFailure("JetStream is not enabled here (no responders for $JS.API.\(subject))")
        }
        guard let object = JSONReader.object(reply.payload) else {
            throw OnlineFailure("the server's reply is not a JSON object")
        }
        if let error = object["error"] as? [String: Any] {
            throw OnlineFailure("\(error["description"] ?? "error") (\(error["err_code"] ?? error["code"] ?? "?"))")
        }
        return object
    }

    /// A stored message from `STREAM.MSG.GET` (by sequence, or the last on a subject): nil when there is
    /// none (10037).
    func message(stream: String, _ request: [String: Any]) throws -> APIMessage? {
        do {
            let reply = try call("STREAM.MSG.GET." + stream, request)
            guard let message = reply["message"] as? [String: Any] else { return nil }
            return APIMessage(message)
        } catch let failure as OnlineFailure where failure.description.hasSuffix("(10037)") {
            return nil
        }
    }
}

/// A message as `STREAM.MSG.GET` returns it (headers and data in base64).
struct APIMessage {
    let subject: String
    let sequence: Int
    let time: String
    let headers: [UInt8]
    let data: [UInt8]

    init(_ object: [String: Any]) {
        subject = object["subject"] as? String ?? ""
        sequence = object["seq"] as? Int ?? 0
        time = object["time"] as? String ?? ""
        headers = (object["hdrs"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? []
        data = (object["data"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? []
    }

    /// A header's value (names compared without case).
    func header(_ name: String) -> String? {
        NATSClient.Message(subject: subject, reply: nil, headers: headers.isEmpty ? nil : headers, payload: []).header(name)
    }

    var json: [String: Any] {
        var object: [String: Any] = ["subject": subject, "seq": sequence, "time": time, "data": String(decoding: data, as: UTF8.self)]
        if !headers.isEmpty { object["headers"] = String(decoding: headers, as: UTF8.self) }
        return object
    }
}
