/// Who may connect, as nats-server's `authorization` block, `no_auth_user` and the `--user`, `--pass`,
/// `--auth` flags configure it: one token, or one user and password, or a list of users (names with
/// passwords, or NKeys), each with optional permissions.
///
/// ``validate()`` refuses what nats-server refuses (a token with users, a single user with a list, a
/// duplicate user, a malformed NKey, a `no_auth_user` that is not a listed user), with its texts.
public struct AuthConfiguration: Sendable, Equatable {
    public var token: String?
    public var user: String?
    public var password: String?
    public var users: [User] = []
    public var nkeys: [NKeyUser] = []
    /// Permissions for listed users and NKeys that have none of their own.
    public var defaultPermissions: Permissions?
    /// The listed user a client that sends no credentials is taken as.
    public var noAuthUser: String?
    /// Seconds a client has to send CONNECT when authentication is required; nil: nats-server's default
    /// (2 seconds, or the TLS timeout plus one with TLS).
    public var timeout: Double?

    public init() {}

    /// The account of users configured outside any `accounts { }` block.
    public static let globalAccount = "$G"

    /// A user with a name and a password (plain or bcrypt), in an account.
    public struct User: Sendable, Equatable {
        public var name: String
        public var password: String
        public var permissions: Permissions?
        public var account: String
        /// `allowed_connection_types` (upper-cased); nil: any. A plain client connection is `STANDARD`.
        public var connectionTypes: Set<String>?
        public init(name: String, password: String, permissions: Permissions? = nil, account: String = AuthConfiguration.globalAccount,
                    connectionTypes: Set<String>? = nil) {
            self.name = name
            self.password = password
            self.permissions = permissions
            self.account = account
            self.connectionTypes = connectionTypes
        }
    }

    /// A user known by its NKey public key, in an account.
    public struct NKeyUser: Sendable, Equatable {
        public var publicKey: String
        public var permissions: Permissions?
        public var account: String
        /// `allowed_connection_types` (upper-cased); nil: any.
        public var connectionTypes: Set<String>?
        public init(publicKey: String, permissions: Permissions? = nil, account: String = AuthConfiguration.globalAccount,
                    connectionTypes: Set<String>? = nil) {
            self.publicKey = publicKey
            self.permissions = permissions
            self.account = account
            self.connectionTypes = connectionTypes
        }
    }

    /// A user's own permissions, else `default_permissions` for a user of the global account (an account's
    /// own `default_permissions` are given to its users when the config is read).
    public func permissions(of own: Permissions?, in account: String) -> Permissions? {
        own ?? (account == Self.globalAccount ? defaultPermissions : nil)
    }

    /// nats-server's connection types: a client (`STANDARD`; Strata serves no websocket or MQTT listener)
    /// and a leaf node connecting to this server's leaf-node port (`LEAFNODE`).
    public static let standardConnection = "STANDARD"
    public static let leafNodeConnection = "LEAFNODE"

    /// True when a client must authenticate (before `no_auth_user`, which lets one in without).
    public var required: Bool { token != nil || user != nil || !users.isEmpty || !nkeys.isEmpty }

    /// True when INFO must carry a nonce for NKey signatures.
    public var needsNonce: Bool { !nkeys.isEmpty }

    /// INFO's `auth_required`: false when `no_auth_user` lets clients without credentials in.
    public var advertisesAuthRequired: Bool { required && noAuthUser == nil }

    /// Why this configuration cannot be used, as nats-server says it; nil when it can.
    public func validate() -> String? {
        if token != nil && (user != nil || password != nil) { return "Cannot have a user/pass and token" }
        if (user == nil) != (password == nil) { return "a user needs a password, and a password a user" }
        if !users.isEmpty || !nkeys.isEmpty {
            if user != nil { return "Can not have a single user/pass and a users array" }
            if token != nil { return "Can not have a token and a users array" }
        }
        var names = Set<String>()
        for listed in users {
            if listed.name.isEmpty { return "User entry requires a user" }
            if !names.insert(listed.name).inserted { return "Duplicate user \"\(listed.name)\" detected" }
        }
        for listed in nkeys {
            if !NKeyPublicKey.isValid(listed.publicKey) { return "Not a valid public nkey for a user" }
            if !names.insert(listed.publicKey).inserted { return "Duplicate nkey \"\(listed.publicKey)\" detected" }
        }
        if let noAuthUser {
            if users.isEmpty { return "no_auth_user: \"\(noAuthUser)\" present, but users are not defined" }
            if !users.contains(where: { $0.name == noAuthUser }) {
                return "no_auth_user: \"\(noAuthUser)\" not present as user in authorization block or account configuration"
            }
        }
        return nil
    }

    /// True when a password is configured in plain text (nats-server then warns at start).
    public var hasPlaintextPasswords: Bool {
        password.map { !PasswordCheck.isBcrypt($0) } == true || users.contains { !$0.password.isEmpty && !PasswordCheck.isBcrypt($0.password) }
    }

    /// True when a listed password needs bcrypt (the check then runs off the event loop).
    public var hasBcrypt: Bool {
        users.contains { PasswordCheck.isBcrypt($0.password) } || token.map(PasswordCheck.isBcrypt) == true
            || password.map(PasswordCheck.isBcrypt) == true
    }
}
