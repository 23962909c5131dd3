import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import Platform
import NATSProtocol

/// A small blocking NATS client for the `strata` tool's online commands: one TCP connection, CONNECT with
/// the given credentials, publish, subscribe, request/reply and PING, over ``ServerOperationParser``.
/// Enough to manage a server from a shell; not a general client (no reconnect). With an NKey seed it
/// answers the server's nonce (CONNECT `nkey` and `sig`); TLS as NATS does it (after the plain INFO).
final class NATSClient {
    struct Failure: Error, CustomStringConvertible { let description: String }
    struct Message { let subject: String; let reply: String?; let headers: [UInt8]?; let payload: [UInt8] }

    private let connection: Connection
    private var parser = ServerOperationParser()
    private var nextSID = 0
    /// Messages for other subscriptions that came while a request waited for its reply (read first by
    /// ``nextMessage(timeout:)``).
    private var held: [Message] = []
    private(set) var info: String = ""

    /// Connects to `url` (`nats://[user:pass@]host:port`, `tls://…`, or `host:port`) and completes the
    /// handshake: INFO, TLS when the server requires it or `tls` asks for it, CONNECT, PING/PONG.
    init(url: String, user: String?, password: String?, token: String?, nkey: NKeySeed? = nil, tls: TLSFiles = TLSFiles(),
         timeout: Double = 5) throws {
        var text = url
        var tls = tls
        if let scheme = text.firstRange(of: "://") {
            if text[..<scheme.lowerBound] == "tls" { tls.required = true }
            text = String(text[scheme.upperBound...])
        }
        var user = user, password = password, token = token
        if let at = text.lastIndex(of: "@") {
            let credentials = text[..<at]
            text = String(text[text.index(after: at)...])
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                token = String(credentials)
            }
        }
        let host = text.split(separator: ":").first.map(String.init) ?? "127.0.0.1"
        let port = text.split(separator: ":").dropFirst().first.flatMap { Int($0) } ?? 4222
        connection = try Connection(host: host, port: port, timeout: timeout)
        guard case .info(let json)? = try next(timeout: timeout) else { throw Failure(description: "no INFO from \(host):\(port)") }
        info = json
        let serverInfo = JSONReader.object(json) ?? [:]
        if serverInfo["tls_required"] as? Bool == true || tls.required {
            guard serverInfo["tls_required"] as? Bool == true || serverInfo["tls_available"] as? Bool == true else {
                throw Failure(description: "\(host):\(port) does not serve TLS")
            }
            do {
                try connection.startTLS(try tls.context(), host: host)
            } catch let failure as OnlineFailure {
                throw Failure(description: failure.description)
            } catch {
                throw Failure(description: "cannot set up TLS: \(error)")
            }
        }
        var connect: [String: Any] = ["verbose": false, "pedantic": false, "headers": true, "no_responders": true,
                                      "lang": "swift", "name": "strata", "version": "1", "protocol": 1]
        if let user { connect["user"] = user }
        if let password { connect["pass"] = password }
        if let token { connect["auth_token"] = token }
        if let nkey {
            connect["nkey"] = nkey.publicKey.description
            guard let nonce = serverInfo["nonce"] as? String else { throw Failure(description: "the server sent no nonce to sign (it does not take NKeys)") }
            connect["sig"] = nkey.sign(nonce: nonce)
        }
        let data = JSONWriter().bytes(connect)
        try send(Array("CONNECT ".utf8) + Array(data) + Array("\r\nPING\r\n".utf8))
        try waitForPong(timeout: timeout)
    }

    /// PUB, or HPUB when there are headers (`NATS/1.0` and one `Name: value` line each).
    func publish(_ subject: String, _ payload: [UInt8], reply: String? = nil, headers: [(String, String)] = []) throws {
        let replyPart = reply.map { " \($0)" } ?? ""
        if headers.isEmpty {
            try send(Array("PUB \(subject)\(replyPart) \(payload.count)\r\n".utf8) + payload + [13, 10])
            return
        }
        let block = Array(("NATS/1.0\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n").utf8)
        try send(Array("HPUB \(subject)\(replyPart) \(block.count) \(block.count + payload.count)\r\n".utf8) + block + payload + [13, 10])
    }

    func unsubscribe(_ sid: String) throws { try send(Array("UNSUB \(sid)\r\n".utf8)) }

    /// Subscribes with a queue group.
    func subscribe(_ subject: String, queue: String) throws -> String {
        nextSID += 1
        try send(Array("SUB \(subject) \(queue) \(nextSID)\r\n".utf8))
        return String(nextSID)
    }

    func subscribe(_ subject: String) throws -> String {
        nextSID += 1
        try send(Array("SUB \(subject) \(nextSID)\r\n".utf8))
        return String(nextSID)
    }

    /// Round trip of a PING, in seconds.
    func ping(timeout: Double = 5) throws -> Double {
        let start = Date()
        try send(Array("PING\r\n".utf8))
        try waitForPong(timeout: timeout)
        return Date().timeIntervalSince(start)
    }

    /// Publishes a request and waits for its reply; "no responders" when nothing took it.
    func request(_ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], timeout: Double = 5) throws -> Message {
        let inbox = "_INBOX.strata.\(UInt64.random(in: 1...UInt64.max))"
        let sid = try subscribe(inbox)
        try publish(subject, payload, reply: inbox, headers: headers)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let operation = try next(timeout: left) else { throw Failure(description: "timeout waiting for a reply on \(subject)") }
            switch operation {
            case .message(let replySubject, let messageSID, let reply, let headers, let payload) where messageSID == sid:
                try send(Array("UNSUB \(sid)\r\n".utf8))
                if let headers, String(decoding: headers, as: UTF8.self).hasPrefix("NATS/1.0 503") {
                    throw Failure(description: "no responders for \(subject)")
                }
                return Message(subject: replySubject, reply: reply, headers: headers, payload: payload)
            case .message(let subject, _, let reply, let headers, let payload):
                held.append(Message(subject: subject, reply: reply, headers: headers, payload: payload))
            case .ping: try send(Array("PONG\r\n".utf8))
            case .error(let text): throw Failure(description: text)
            default: continue
            }
        }
    }

    /// The next message on any subscription, or nil after `timeout` seconds.
    func nextMessage(timeout: Double) throws -> Message? {
        if !held.isEmpty { return held.removeFirst() }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let operation = try next(timeout: left) else { return nil }
            switch operation {
            case .message(let subject, _, let reply, let headers, let payload): return Message(subject: subject, reply: reply, headers: headers, payload: payload)
            case .ping: try send(Array("PONG\r\n".utf8))
            case .error(let text): throw Failure(description: text)
            default: continue
            }
        }
    }

    private func waitForPong(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let operation = try next(timeout: left) else { throw Failure(description: "timeout waiting for the server") }
            switch operation {
            case .pong: return
            case .ping: try send(Array("PONG\r\n".utf8))
            case .error(let text): throw Failure(description: text)
            default: continue
            }
        }
    }

    private func send(_ bytes: [UInt8]) throws { try connection.send(bytes) }

    /// The next operation, reading until one is whole or `timeout` passes (nil).
    private func next(timeout: Double) throws -> ServerOperation? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                if let operation = try parser.next() { return operation }
            } catch {
                throw Failure(description: "the server sent something unreadable: \(error)")
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let bytes = try connection.receive(timeout: left) else { return nil }
            parser.feed(bytes[...])
        }
    }
}

extension NATSClient.Message {
    /// The status of a status message (`NATS/1.0 503`), nil for a plain message.
    var status: Int? {
        guard let headers, let line = String(decoding: headers, as: UTF8.self).split(separator: "\r\n").first else { return nil }
        let parts = line.split(separator: " ")
        return parts.count > 1 ? Int(parts[1]) : nil
    }

    /// A status message's code and text (`409 Exceeded MaxWaiting`).
    var statusLine: String? {
        guard status != nil, let headers, let line = String(decoding: headers, as: UTF8.self).split(separator: "\r\n").first else { return nil }
        return line.dropFirst("NATS/1.0 ".count).trimmingWhitespace()
    }

    /// A header's first value (names compared without case).
    func header(_ name: String) -> String? {
        guard let headers else { return nil }
        for line in String(decoding: headers, as: UTF8.self).split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name.lowercased() {
                return line[line.index(after: colon)...].trimmingWhitespace()
            }
        }
        return nil
    }

    var text: String { String(decoding: payload, as: UTF8.self) }

    /// The stream sequence a JetStream delivery's ack subject names
    /// (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`).
    var streamSequence: Int? {
        guard let reply else { return nil }
        let tokens = reply.split(separator: ".")
        guard tokens.count >= 9 else { return nil }
        return Int(tokens[tokens.count - 4])
    }
}
