#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Platform
import Auth

/// The `leafnodes { }` block: the hubs this server connects to as a leaf (`remotes`), and how soon it
/// tries again after a connection ends. Defaults are nats-server 2.9.10's.
public struct LeafNodeSettings: Sendable, Equatable {
    public var remotes: [LeafRemote] = []
    /// Seconds between attempts to connect to a remote (`reconnect`, `reconnect_delay`,
    /// `reconnect_interval`; nats-server's `DEFAULT_LEAF_NODE_RECONNECT` is 1 s).
    public var reconnectInterval: Double = 1
    /// Where this server accepts leaf nodes (the hub role: `listen`, or `host` and `port`); nil: it does not.
    public var listen: (host: String, port: Int)? {
        get { listenHost.map { ($0, listenPort) } }
        set { listenHost = newValue?.host; listenPort = newValue?.port ?? 7422 }
    }
    private var listenHost: String?
    private var listenPort = 7422
    /// Who may connect as a leaf (`authorization { user, password, account }` or `users`); nil: the
    /// server's own client authorization decides, as nats-server 2.9.10's `isLeafNodeAuthorized` does.
    public var authorization: LeafAuthorization?
    /// TLS on the leaf-node port (`leafnodes { tls { cert_file, key_file, ca_file, verify, timeout } }`):
    /// INFO goes out in plain text with `tls_required`, then the leaf starts the handshake.
    public var tls: TLSSettings?

    public init() {}
}

/// A remote's `tls { }`: this server is the client of the hub's TLS.
public struct LeafRemoteTLS: Sendable, Equatable {
    /// The CA the hub's certificate must chain to (the system's roots when nil).
    public var caFile: String?
    /// The certificate and key this leaf presents (when the hub verifies leaves).
    public var certFile: String?
    public var keyFile: String?
    /// Skip verifying the hub's certificate (nats-server warns: not for production).
    public var insecure = false
    /// Seconds the handshake may take (nats-server's default for leaf nodes: 2).
    public var timeout: Double = 2

    public init() {}
}

/// `leafnodes { authorization { } }`: the users a leaf may connect as, each bound to an account.
public struct LeafAuthorization: Sendable, Equatable {
    public var users: [AuthConfiguration.User] = []
    /// Seconds a leaf has to send CONNECT (nats-server's default: 2).
    public var timeout: Double?

    public init(users: [AuthConfiguration.User] = [], timeout: Double? = nil) {
        self.users = users
        self.timeout = timeout
    }

    /// As an ``AuthConfiguration`` (each user with its account) for the ``Authenticator``.
    public var configuration: AuthConfiguration {
        var configuration = AuthConfiguration()
        configuration.users = users
        configuration.timeout = timeout
        return configuration
    }
}

/// One `remotes` entry: a hub (or the several URLs of one hub cluster) this server connects to, and the
/// local account the connection is bound to.
public struct LeafRemote: Sendable, Equatable {
    /// Where the hub listens for leaf nodes (`nats-leaf://[user:pass@]host[:port]`, also `nats://`, `tls://`;
    /// the port defaults to 7422).
    public var urls: [LeafURL]
    /// The local account the connection binds to (`account`, `local`); nil: the global account.
    public var account: String?
    /// A `.creds` file (`credentials`, `creds`): the user JWT sent and the seed that signs the hub's nonce.
    public var credentials: String?
    /// Subjects whose interest is not sent to the hub (`deny_imports`) and subjects not sent to it
    /// (`deny_exports`).
    public var denyImports: [String] = []
    public var denyExports: [String] = []
    /// Keep the URLs in the order given (`no_randomize`); else they are shuffled once, as nats-server does.
    public var noRandomize = false
    /// TLS to the hub (`tls { }`; also used when the hub's INFO requires TLS, with the system's roots).
    public var tls: LeafRemoteTLS?

    public init(urls: [LeafURL], account: String? = nil) {
        self.urls = urls
        self.account = account
    }
}

/// A remote's URL, parsed. The user and password in it are the credentials sent in CONNECT; its
/// ``description`` never shows the password.
public struct LeafURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?

    public init(host: String, port: Int = 7422, scheme: String = "nats-leaf", user: String? = nil, password: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }

    /// Parses `[scheme://][user[:pass]@]host[:port]`; nil when it is not such a URL.
    public init?(parsing text: String) {
        var rest = Substring(text.trimmingWhitespace(newlines: true))
        scheme = "nats-leaf"
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            scheme = rest[..<colon].lowercased()
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        guard ["nats-leaf", "nats", "tls", "leafnode"].contains(scheme) else { return nil }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = Self.percentDecoded(credentials[..<colon])
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else {
                user = Self.percentDecoded(credentials)
            }
        }
        port = 7422
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { return nil }
    }

    /// `%XX` escapes decoded (a password with `@` or `:` in a URL); text that is not valid escaping is kept.
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `host:port` (what a hub's `leafnode_urls` lists).
    public var hostPort: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String {
        let credentials = user.map { password == nil ? "\($0)@" : "\($0):[REDACTED]@" } ?? ""
        return "\(scheme)://\(credentials)\(hostPort)"
    }
}
