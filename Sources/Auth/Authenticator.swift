/// What a client presented in CONNECT (and, with TLS, in its certificate).
public struct Credentials: Sendable, Equatable {
    public var user: String?
    public var password: String?
    public var token: String?
    public var nkey: String?
    public var signature: String?
    /// With `verify_and_map`: the verified client certificate's names; the user is the one they name.
    public var certificate: CertificateIdentity?

    public init(user: String? = nil, password: String? = nil, token: String? = nil, nkey: String? = nil, signature: String? = nil,
                certificate: CertificateIdentity? = nil) {
        self.certificate = certificate
        self.user = user
        self.password = password
        self.token = token
        self.nkey = nkey
        self.signature = signature
    }

    var isEmpty: Bool { (user ?? "").isEmpty && (password ?? "").isEmpty && (token ?? "").isEmpty }
}

/// The outcome of authenticating one connection.
public enum AuthDecision: Sendable, Equatable {
    /// Let in, as `identity`.
    case accepted(Identity)
    /// Refused (the client gets `Authorization Violation`); `reason` is for the log and never holds a
    /// password, token or signature.
    case refused(reason: String)

    public var identity: Identity? {
        if case .accepted(let identity) = self { return identity }
        return nil
    }
}

/// Who a connection is once let in, and what it may do.
public struct Identity: Sendable, Equatable {
    /// The user's name or NKey; nil for a token or an open server.
    public var name: String?
    /// nil: everything is allowed.
    public var permissions: Permissions?
    /// The account the connection is in: its subjects and its JetStream.
    public var account: String

    public init(name: String? = nil, permissions: Permissions? = nil, account: String = AuthConfiguration.globalAccount) {
        self.name = name
        self.permissions = permissions
        self.account = account
    }
}

/// Decides who a connection is from its credentials, as nats-server 2.9's
/// `processClientOrLeafAuthentication` does for client connections. Pure and deterministic: the nonce is
/// the one the connection's INFO carried.
///
/// Order: an NKey when NKeys are listed and the client sent one (the signature of the nonce must verify);
/// else a listed user (with `no_auth_user` standing in for a client that sent nothing); else the single
/// token, or the single user and password.
public enum Authenticator {
    /// `connectionType` is what the connection is (`STANDARD` for a client, `LEAFNODE` for a leaf node): a user
    /// with `allowed_connection_types` is let in only as one of them.
    public static func authenticate(_ credentials: Credentials, nonce: String?, by configuration: AuthConfiguration,
                                    connectionType: String = AuthConfiguration.standardConnection) -> AuthDecision {
        let kind = describe(connectionType)
        func allows(_ types: Set<String>?) -> Bool { types?.contains(connectionType) ?? true }
        guard configuration.required else { return .accepted(Identity()) }
        if !configuration.nkeys.isEmpty, let nkey = credentials.nkey, !nkey.isEmpty {
            return authenticateNKey(nkey, signature: credentials.signature, nonce: nonce, by: configuration, connectionType: connectionType)
        }
        if !configuration.users.isEmpty, let certificate = credentials.certificate {
            return authenticateCertificate(certificate, password: credentials.password, by: configuration, connectionType: connectionType)
        }
        if !configuration.users.isEmpty {
            let name = credentials.user ?? ""
            if name.isEmpty, credentials.isEmpty, let noAuthUser = configuration.noAuthUser,
               let user = configuration.users.first(where: { $0.name == noAuthUser }), allows(user.connectionTypes) {
                return .accepted(Identity(name: user.name, permissions: configuration.permissions(of: user.permissions, in: user.account), account: user.account))
            }
            if !name.isEmpty {
                guard let user = configuration.users.first(where: { $0.name == name }) else {
                    return .refused(reason: "unknown user \"\(name)\"")
                }
                guard allows(user.connectionTypes) else { return .refused(reason: "user \"\(name)\" may not connect as \(kind)") }
                guard PasswordCheck.matches(credentials.password, configured: user.password) else {
                    return .refused(reason: "wrong password for user \"\(name)\"")
                }
                return .accepted(Identity(name: user.name, permissions: configuration.permissions(of: user.permissions, in: user.account), account: user.account))
            }
        }
        if let token = configuration.token {
            return PasswordCheck.matches(credentials.token, configured: token)
                ? .accepted(Identity()) : .refused(reason: credentials.token == nil ? "no token" : "wrong token")
        }
        if let user = configuration.user, let password = configuration.password {
            guard credentials.user == user else {
                return .refused(reason: credentials.user.map { "unknown user \"\($0)\"" } ?? "no credentials")
            }
            return PasswordCheck.matches(credentials.password, configured: password)
                ? .accepted(Identity(name: user)) : .refused(reason: "wrong password for user \"\(user)\"")
        }
        return .refused(reason: credentials.isEmpty && credentials.nkey == nil ? "no credentials" : "credentials of an unknown kind")
    }

    /// True when authenticating `credentials` costs a bcrypt check (run it off the event loop).
    public static func isExpensive(_ credentials: Credentials, by configuration: AuthConfiguration) -> Bool {
        guard configuration.hasBcrypt else { return false }
        if let name = credentials.user, let user = configuration.users.first(where: { $0.name == name }) {
            return PasswordCheck.isExpensive(user.password)
        }
        if let token = configuration.token { return PasswordCheck.isExpensive(token) }
        if let password = configuration.password { return PasswordCheck.isExpensive(password) }
        return false
    }

    static func authenticateNKey(_ nkey: String, signature: String?, nonce: String?, by configuration: AuthConfiguration,
                                 connectionType: String) -> AuthDecision {
        guard let user = configuration.nkeys.first(where: { $0.publicKey == nkey }) else {
            return .refused(reason: "unknown nkey \(nkey)")
        }
        guard allows(user.connectionTypes, as: connectionType) else { return .refused(reason: "nkey \(nkey) may not connect as \(describe(connectionType))") }
        guard let signature, !signature.isEmpty else { return .refused(reason: "signature missing for nkey \(nkey)") }
        guard let raw = NKeyPublicKey.decodeSignature(signature) else { return .refused(reason: "signature not valid base64") }
        guard let key = try? NKeyPublicKey(nkey) else { return .refused(reason: "nkey \(nkey) not valid") }
        guard let nonce, key.verifies(signature: raw, of: Array(nonce.utf8)) else {
            return .refused(reason: "signature not verified for nkey \(nkey)")
        }
        return .accepted(Identity(name: nkey, permissions: configuration.permissions(of: user.permissions, in: user.account), account: user.account))
    }

    /// `verify_and_map`: the first of the certificate's alternative names that is a listed user, else the
    /// listed user whose name is the certificate's subject. The user's password (normally empty) must
    /// match too, as nats-server checks it.
    static func authenticateCertificate(_ certificate: CertificateIdentity, password: String?, by configuration: AuthConfiguration,
                                        connectionType: String) -> AuthDecision {
        var user = certificate.names.lazy.compactMap { name in configuration.users.first { $0.name == name } }.first
        if user == nil, let subject = certificate.subject {
            user = configuration.users.first { DistinguishedName($0.name) == subject }
        }
        guard let user, allows(user.connectionTypes, as: connectionType) else { return .refused(reason: "no user matches the client certificate \(certificate.names)") }
        guard PasswordCheck.matches(password, configured: user.password) else {
            return .refused(reason: "wrong password for user \"\(user.name)\" (mapped from its certificate)")
        }
        return .accepted(Identity(name: user.name, permissions: configuration.permissions(of: user.permissions, in: user.account), account: user.account))
    }

    /// True when a user restricted to `types` may connect as a plain client.
    static func describe(_ connectionType: String) -> String {
        connectionType == AuthConfiguration.standardConnection ? "a standard client" : "a \(connectionType.lowercased()) connection"
    }

    static func allows(_ types: Set<String>?, as connectionType: String) -> Bool { types?.contains(connectionType) ?? true }

    /// A fresh nonce for INFO: 11 random bytes in base64 RawURL (15 characters), as nats-server makes it.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encodeRawURL((0..<11).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
