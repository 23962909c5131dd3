#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// The fields of a hub's leaf-node INFO that a leaf uses (nats-server 2.9.10's `Info`; the rest are
/// ignored). The first INFO carries `client_id`, `leafnode_urls` and the `nonce`; with `info_on_connect`
/// the hub answers CONNECT with a second one marked `connect_info`.
public struct LeafHubInfo: Decodable, Equatable, Sendable {
    public var serverID: String = ""
    public var serverName: String?
    public var version: String?
    public var headers = false
    public var authRequired = false
    public var tlsRequired = false
    public var maxPayload: Int?
    public var clientID: UInt64?
    public var nonce: String?
    public var domain: String?
    public var cluster: String?
    public var leafnodeURLs: [String]?
    public var infoOnConnect = false
    public var connectInfo = false
    public var remoteAccount: String?
    /// The permissions the hub's leaf user has, sent for the leaf to enforce on its side: `import` is what
    /// it may receive (the interest it may declare), `export` what it may send.
    public var importPermission: LeafSubjectPermission?
    public var exportPermission: LeafSubjectPermission?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, headers, authRequired = "auth_required"
        case tlsRequired = "tls_required", maxPayload = "max_payload", clientID = "client_id", nonce, domain, cluster
        case leafnodeURLs = "leafnode_urls", infoOnConnect = "info_on_connect", connectInfo = "connect_info"
        case remoteAccount = "remote_account", importPermission = "import", exportPermission = "export"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serverID = try c.decodeIfPresent(String.self, forKey: .serverID) ?? ""
        serverName = try c.decodeIfPresent(String.self, forKey: .serverName)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        headers = try c.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        authRequired = try c.decodeIfPresent(Bool.self, forKey: .authRequired) ?? false
        tlsRequired = try c.decodeIfPresent(Bool.self, forKey: .tlsRequired) ?? false
        maxPayload = try c.decodeIfPresent(Int.self, forKey: .maxPayload)
        clientID = try c.decodeIfPresent(UInt64.self, forKey: .clientID)
        nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
        domain = try c.decodeIfPresent(String.self, forKey: .domain)
        cluster = try c.decodeIfPresent(String.self, forKey: .cluster)
        leafnodeURLs = try c.decodeIfPresent([String].self, forKey: .leafnodeURLs)
        infoOnConnect = try c.decodeIfPresent(Bool.self, forKey: .infoOnConnect) ?? false
        connectInfo = try c.decodeIfPresent(Bool.self, forKey: .connectInfo) ?? false
        remoteAccount = try c.decodeIfPresent(String.self, forKey: .remoteAccount)
        importPermission = try c.decodeIfPresent(LeafSubjectPermission.self, forKey: .importPermission)
        exportPermission = try c.decodeIfPresent(LeafSubjectPermission.self, forKey: .exportPermission)
    }

    /// Decodes an INFO's JSON; nil when it is not a JSON object.
    public static func decode(_ json: String) -> LeafHubInfo? {
        try? JSONDecoder().decode(LeafHubInfo.self, from: Data(json.utf8))
    }

    /// A leaf port's first INFO has a client id and a URL list; a client or route port's has not
    /// (nats-server closes such a connection as `ErrConnectedToWrongPort`).
    public var isLeafPort: Bool { clientID != nil && clientID != 0 && leafnodeURLs != nil }
}

/// nats-server's `SubjectPermission`: subjects allowed (nil: all) and denied.
public struct LeafSubjectPermission: Codable, Equatable, Sendable {
    public var allow: [String]?
    public var deny: [String]?

    public init(allow: [String]? = nil, deny: [String]? = nil) {
        self.allow = allow
        self.deny = deny
    }
}

/// The CONNECT a leaf sends its hub (nats-server 2.9.10's `leafConnectInfo`).
public struct LeafConnect: Encodable, Equatable, Sendable {
    public var version: String
    public var jwt: String?
    public var signature: String?
    public var user: String?
    public var pass: String?
    public var tlsRequired = false
    public var serverID: String
    public var domain: String?
    public var name: String
    public var headers = true
    public var jetStream = false
    public var denyPublish: [String]?

    public init(version: String, serverID: String, name: String) {
        self.version = version
        self.serverID = serverID
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case version, jwt, signature = "sig", user, pass, tlsRequired = "tls_required", serverID = "server_id", domain, name
        case headers, jetStream = "jetstream", denyPublish = "deny_pub"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encodeIfPresent(jwt, forKey: .jwt)
        try c.encodeIfPresent(signature, forKey: .signature)
        try c.encodeIfPresent(user, forKey: .user)
        try c.encodeIfPresent(pass, forKey: .pass)
        try c.encode(tlsRequired, forKey: .tlsRequired)
        try c.encode(serverID, forKey: .serverID)
        try c.encodeIfPresent(domain, forKey: .domain)
        try c.encode(name, forKey: .name)
        if headers { try c.encode(true, forKey: .headers) }
        if jetStream { try c.encode(true, forKey: .jetStream) }
        if let denyPublish, !denyPublish.isEmpty { try c.encode(denyPublish, forKey: .denyPublish) }
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // (try?: plain strings and bools cannot fail to encode)
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

extension LeafConnect: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(String.self, forKey: .version) ?? ""
        jwt = try c.decodeIfPresent(String.self, forKey: .jwt)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        pass = try c.decodeIfPresent(String.self, forKey: .pass)
        tlsRequired = try c.decodeIfPresent(Bool.self, forKey: .tlsRequired) ?? false
        serverID = try c.decodeIfPresent(String.self, forKey: .serverID) ?? ""
        domain = try c.decodeIfPresent(String.self, forKey: .domain)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        headers = try c.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        jetStream = try c.decodeIfPresent(Bool.self, forKey: .jetStream) ?? false
        denyPublish = try c.decodeIfPresent([String].self, forKey: .denyPublish)
    }

    /// Decodes a leaf's CONNECT; nil when it is not a JSON object. A client's CONNECT (it has `lang`) is
    /// reported by ``isClient``.
    public static func decode(_ json: ByteBuffer) -> (connect: LeafConnect, isClient: Bool)? {
        let data = Data(json.readableBytesView)
        guard let connect = try? JSONDecoder().decode(LeafConnect.self, from: data) else { return nil }
        struct Lang: Decodable { var lang: String? }
        let lang = (try? JSONDecoder().decode(Lang.self, from: data))?.lang
        return (connect, !(lang ?? "").isEmpty)
    }
}

/// The INFO a hub sends on its leaf-node port (nats-server 2.9.10's leaf `Info`): first with the nonce
/// and `info_on_connect`, then, answering CONNECT, with `connect_info`, `remote_account` and the leaf
/// user's permissions.
public struct LeafServerInfo: Encodable, Sendable {
    public var serverID: String
    public var serverName: String
    public var version = "2.9.10"
    public var proto = 1
    public var host: String
    public var port: Int
    public var headers = true
    public var authRequired = true
    public var tlsRequired: Bool?
    public var tlsVerify: Bool?
    public var maxPayload: Int
    public var clientID: UInt64
    public var nonce: String?
    public var domain: String?
    public var infoOnConnect = true
    public var connectInfo: Bool?
    public var leafnodeURLs: [String]
    public var remoteAccount: String?
    public var importPermission: LeafSubjectPermission?
    public var exportPermission: LeafSubjectPermission?

    public init(serverID: String, serverName: String, host: String, port: Int, maxPayload: Int, clientID: UInt64, leafnodeURLs: [String]) {
        self.serverID = serverID
        self.serverName = serverName
        self.host = host
        self.port = port
        self.maxPayload = maxPayload
        self.clientID = clientID
        self.leafnodeURLs = leafnodeURLs
    }

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, proto, host, port, headers, authRequired = "auth_required"
        case tlsRequired = "tls_required", tlsVerify = "tls_verify"
        case maxPayload = "max_payload", clientID = "client_id", nonce, domain, infoOnConnect = "info_on_connect"
        case connectInfo = "connect_info", leafnodeURLs = "leafnode_urls", remoteAccount = "remote_account"
        case importPermission = "import", exportPermission = "export"
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // (try?: plain strings, numbers and lists cannot fail to encode)
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
