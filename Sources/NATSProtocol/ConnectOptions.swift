#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import DynamicJSON
import NIOCore

/// The options of a client's `CONNECT`. Missing fields take the reference server's defaults: verbose,
/// pedantic and echo on (nats-server 2.9.10 answers `CONNECT {}` with `+OK`), headers off.
public struct ConnectOptions: Equatable, Sendable {
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

    /// Decodes the JSON of a CONNECT as nats-server (Go's encoding/json) does; nil when the server closes the
    /// connection instead: text that is not one JSON object, or a known field of the wrong type (`"verbose":"yes"`,
    /// `"protocol":1.0`). Like Go: a repeated key takes its last value, a key matches its field whatever its case
    /// (`"Verbose"`), `null` leaves the default, unknown keys are ignored. (When one field is named twice in
    /// different cases, the exact-case key wins here; Go takes the later one.)
    public static func decode(_ json: ByteBuffer) -> ConnectOptions? {
        guard let object = JSONReader.object(json.readableBytesView) else { return nil }
        var folded: [String: Any] = [:]
        for (key, value) in object where folded[key.lowercased()] == nil || key == key.lowercased() {
            folded[key.lowercased()] = value
        }
        var options = ConnectOptions()
        func read<T>(_ key: String, _ type: T.Type, into field: inout T) -> Bool {
            guard let value = folded[key], !(value is JSONNull) else { return true }
            guard let typed = value as? T else { return false }
            field = typed
            return true
        }
        func read(_ key: String, into field: inout String?) -> Bool {
            var value = field ?? ""
            guard folded[key].map({ !($0 is JSONNull) }) ?? false else { return true }
            guard read(key, String.self, into: &value) else { return false }
            field = value
            return true
        }
        guard read("verbose", Bool.self, into: &options.verbose), read("pedantic", Bool.self, into: &options.pedantic),
              read("echo", Bool.self, into: &options.echo), read("headers", Bool.self, into: &options.headers),
              read("no_responders", Bool.self, into: &options.noResponders),
              read("protocol", Int.self, into: &options.protocolVersion),
              read("name", into: &options.name), read("lang", into: &options.lang), read("version", into: &options.version),
              read("user", into: &options.user), read("pass", into: &options.pass), read("auth_token", into: &options.authToken),
              read("nkey", into: &options.nkey), read("sig", into: &options.signature) else { return nil }
        return options
    }
}

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
