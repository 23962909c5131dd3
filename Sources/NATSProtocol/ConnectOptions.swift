#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import NIOCore

/// The options of a client's `CONNECT`. Missing fields take the reference server's defaults: verbose,
/// pedantic and echo on (nats-server 2.9.10 answers `CONNECT {}` with `+OK`), headers off.
public struct ConnectOptions: Equatable, Sendable, Decodable {
    public var verbose = true
    public var pedantic = true
    public var echo = true
    public var headers = false
    public var noResponders = false
    public var protocolVersion = 0
    public var name: String?
    public var lang: String?
    public var version: String?
    public var user: String?
    public var pass: String?
    public var authToken: String?
    /// The user's NKey public key, and its signature of INFO's nonce (base64 RawURL).
    public var nkey: String?
    public var signature: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic, echo, headers, name, lang, version, user, pass
        case noResponders = "no_responders"
        case protocolVersion = "protocol"
        case authToken = "auth_token"
        case nkey, signature = "sig"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        verbose = try c.decodeIfPresent(Bool.self, forKey: .verbose) ?? true
        pedantic = try c.decodeIfPresent(Bool.self, forKey: .pedantic) ?? true
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo) ?? true
        headers = try c.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        noResponders = try c.decodeIfPresent(Bool.self, forKey: .noResponders) ?? false
        protocolVersion = try c.decodeIfPresent(Int.self, forKey: .protocolVersion) ?? 0
        name = try c.decodeIfPresent(String.self, forKey: .name)
        lang = try c.decodeIfPresent(String.self, forKey: .lang)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        pass = try c.decodeIfPresent(String.self, forKey: .pass)
        authToken = try c.decodeIfPresent(String.self, forKey: .authToken)
        nkey = try c.decodeIfPresent(String.self, forKey: .nkey)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
    }

    /// Decodes the JSON of a CONNECT; nil when it is not valid JSON (the reference then closes silently).
    public static func decode(_ json: ByteBuffer) -> ConnectOptions? {
        // (try?: client input: nil closes the connection with the reference's error)
        try? JSONDecoder().decode(ConnectOptions.self, from: Data(json.readableBytesView))
    }
}

/// The `INFO` a server sends on connect, with the reference's field names.
public struct ServerInfo: Encodable, Sendable {
    public var serverID: String
    public var serverName: String
    /// The NATS server version whose behaviour is implemented (clients choose code paths from it).
    public var version = "2.9.10"
    public var proto = 1
    public var host: String
    public var port: Int
    public var headers = true
    public var maxPayload: Int
    public var jetstream: Bool?
    public var authRequired: Bool?
    public var clientID: UInt64
    public var clientIP: String
    /// Set when NKeys are configured: the client signs it.
    public var nonce: String?
    public var tlsRequired: Bool?
    public var tlsVerify: Bool?
    /// What this server really is (the reference has no such field; clients ignore it).
    public var implementation = "strata"

    public init(serverID: String, serverName: String, host: String, port: Int, maxPayload: Int, jetstream: Bool,
                authRequired: Bool, clientID: UInt64, clientIP: String) {
        self.serverID = serverID
        self.serverName = serverName
        self.host = host
        self.port = port
        self.maxPayload = maxPayload
        self.jetstream = jetstream ? true : nil
        self.authRequired = authRequired ? true : nil
        self.clientID = clientID
        self.clientIP = clientIP
    }

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, proto, host, port, headers
        case maxPayload = "max_payload", jetstream, authRequired = "auth_required"
        case clientID = "client_id", clientIP = "client_ip", implementation = "x_implementation"
        case nonce, tlsRequired = "tls_required", tlsVerify = "tls_verify"
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // (try?: encoding plain Codable options cannot fail)
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
