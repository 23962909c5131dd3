import Testing
@testable import Auth

@Suite struct PasswordCheckTests {
    /// Made by libxcrypt for "secret" at cost 4; the same salt and digest under the other bcrypt prefixes.
    static let hash = "$2b$04$uiMNaQTQblMOCiudxHFmWOvlvPDVt0tvFTxBC/37SfVOySIB7z1wu"

    @Test func recognisesBcryptAsNatsServerDoes() {
        #expect(PasswordCheck.isBcrypt(Self.hash))
        #expect(PasswordCheck.isBcrypt("$2a$11$abc"))
        #expect(PasswordCheck.isBcrypt("$2y$10$"))
        #expect(!PasswordCheck.isBcrypt("$2c$10$abc"))
        #expect(!PasswordCheck.isBcrypt("$2a$1$abc"))
        #expect(!PasswordCheck.isBcrypt("$1$abc"))
        #expect(!PasswordCheck.isBcrypt("secret"))
    }

    @Test(arguments: ["$2a$", "$2b$", "$2y$"])
    func checksBcrypt(prefix: String) {
        let hash = prefix + Self.hash.dropFirst(4)
        #expect(PasswordCheck.matches("secret", configured: hash))
        #expect(!PasswordCheck.matches("Secret", configured: hash))
        #expect(!PasswordCheck.matches("", configured: hash))
        #expect(!PasswordCheck.matches(nil, configured: hash))
        #expect(!PasswordCheck.matches("secret\0", configured: hash))
    }

    @Test func aDamagedHashMatchesNothing() {
        #expect(!PasswordCheck.matches("secret", configured: "$2b$04$tooshort"))
        #expect(!PasswordCheck.matches("secret", configured: String(Self.hash.dropLast())))
    }

    @Test func comparesPlainPasswordsExactly() {
        #expect(PasswordCheck.matches("s3cret", configured: "s3cret"))
        #expect(!PasswordCheck.matches("s3cre", configured: "s3cret"))
        #expect(!PasswordCheck.matches("s3cretx", configured: "s3cret"))
        #expect(!PasswordCheck.matches(nil, configured: "s3cret"))
        #expect(PasswordCheck.matches(nil, configured: ""))
    }
}

@Suite struct NKeyTests {
    /// A user key pair from nats-server's own tests (server/nkey_test.go): the seed and its public key.
    static let seed = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"
    static let publicKey = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

    /// The Ed25519 private key inside an NKey seed (two prefix bytes, 32 seed bytes, CRC-16).
    static func privateKey(fromSeed seed: String) throws -> Ed25519.PrivateKey {
        let bytes = try #require(Base32.decode(seed))
        #expect(bytes.count == 36)
        #expect(CRC16.xmodem(bytes[0..<34]) == UInt16(bytes[34]) | UInt16(bytes[35]) << 8)
        return try #require(Ed25519.PrivateKey(seed: bytes[2..<34]))
    }

    @Test func aSeedNamesItsPublicKeyAndSignsTheNonce() throws {
        let seed = try NKeySeed(Self.seed + "\n")
        #expect(seed.publicKey.description == Self.publicKey)
        let signature = try #require(NKeyPublicKey.decodeSignature(seed.sign(nonce: "n0nce-from-INFO")))
        #expect(try NKeyPublicKey(Self.publicKey).verifies(signature: signature, of: Array("n0nce-from-INFO".utf8)))
        #expect(throws: NKeySeed.Invalid.notAUserSeed) { try NKeySeed(Base32.encode([UInt8](repeating: 0, count: 36))) }
        #expect(throws: NKeySeed.Invalid.checksumMismatch) {
            try NKeySeed(String(Self.seed.dropLast()) + (Self.seed.last == "A" ? "B" : "A"))
        }
        #expect(throws: NKeySeed.Invalid.wrongLength(10)) { try NKeySeed(String(Self.seed.prefix(16))) }
    }

    @Test func encodesAPublicKeyAsTheNkeysLibraryDoes() throws {
        let key = try Self.privateKey(fromSeed: Self.seed)
        let encoded = NKeyPublicKey(raw: key.publicKey)
        #expect(encoded.description == Self.publicKey)
        let parsed = try NKeyPublicKey(Self.publicKey)
        #expect(parsed.raw == key.publicKey)
    }

    @Test func refusesMalformedKeys() {
        #expect(throws: NKeyPublicKey.Invalid.checksumMismatch) {
            try NKeyPublicKey(String(Self.publicKey.dropLast()) + (Self.publicKey.last == "A" ? "B" : "A"))
        }
        #expect(throws: NKeyPublicKey.Invalid.notBase32) { try NKeyPublicKey("udxu4rcsjnzoiqhz") }
        #expect(throws: NKeyPublicKey.Invalid.wrongLength(10)) { try NKeyPublicKey("UDXU4RCSJNZOIQHZ") }
        // An account key (prefix 'A') is not a user key.
        let raw = [UInt8](repeating: 7, count: 32)
        var account = [UInt8(0 << 3)] + raw
        let crc = CRC16.xmodem(account[...])
        account += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        #expect(throws: NKeyPublicKey.Invalid.notAUserKey(prefix: 0)) { try NKeyPublicKey(Base32.encode(account)) }
        #expect(NKeyPublicKey.isValid(Self.publicKey))
        #expect(!NKeyPublicKey.isValid(Self.seed))
    }

    @Test func verifiesASignatureOfTheNonce() throws {
        let key = try Self.privateKey(fromSeed: Self.seed)
        let nonce = Authenticator.makeNonce()
        #expect(nonce.count == 15)
        let signature = key.signature(of: Array(nonce.utf8))
        let publicKey = try NKeyPublicKey(Self.publicKey)
        #expect(publicKey.verifies(signature: signature, of: Array(nonce.utf8)))
        #expect(!publicKey.verifies(signature: signature, of: Array((nonce + "x").utf8)))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!publicKey.verifies(signature: flipped, of: Array(nonce.utf8)))
        #expect(!publicKey.verifies(signature: Array(signature.prefix(63)), of: Array(nonce.utf8)))
    }

    @Test func decodesSignaturesInBothBase64Alphabets() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0x01, 0x02]
        #expect(NKeyPublicKey.decodeSignature(Base64.encodeRawURL(bytes)) == bytes)
        #expect(NKeyPublicKey.decodeSignature("+/8BAg==") == bytes)
        #expect(NKeyPublicKey.decodeSignature("+/8BAg") == bytes)
        #expect(NKeyPublicKey.decodeSignature("not base64!") == nil)
    }
}

@Suite struct PermissionsTests {
    static func entries(_ texts: [String]) -> [PermissionEntry] { texts.map(PermissionEntry.init) }

    @Test func publishAllowAndDeny() {
        let permissions = Permissions(publish: SubjectPermission(allow: Self.entries(["orders.>", "metrics.*"]),
                                                                 deny: Self.entries(["orders.secret.>"])))
        #expect(permissions.allowsPublish("orders.new"))
        #expect(permissions.allowsPublish("metrics.cpu"))
        #expect(!permissions.allowsPublish("metrics.cpu.0"))
        #expect(!permissions.allowsPublish("orders.secret.x"))
        #expect(!permissions.allowsPublish("other"))
        #expect(Permissions(publish: SubjectPermission(deny: Self.entries(["a"]))).allowsPublish("b"))
        #expect(!Permissions(publish: SubjectPermission(allow: [])).allowsPublish("b"))
        #expect(Permissions().allowsPublish("anything"))
    }

    @Test func allowResponsesTurnsOffTheBlanketPublishAllow() {
        let permissions = Permissions(responses: ResponsePermission())
        #expect(!permissions.allowsPublish("anything"))
        let withDeny = Permissions(publish: SubjectPermission(deny: Self.entries(["x"])), responses: ResponsePermission())
        #expect(withDeny.publish?.allow == [])
    }

    @Test func subscriptionSubjectsAreCheckedTokenByToken() {
        let permissions = Permissions(subscribe: SubjectPermission(allow: Self.entries(["foo.>", "bar.*", "baz"])))
        #expect(permissions.allowsSubscribe("foo.*"))
        #expect(permissions.allowsSubscribe("foo.>"))
        #expect(permissions.allowsSubscribe("bar.*"))
        #expect(permissions.allowsSubscribe("bar.x"))
        // nats-server 2.9.10 lets `bar.*` allow the subscription `bar.>` (its sublist's `*` takes the `>`
        // token; checked against it), and so does this.
        #expect(permissions.allowsSubscribe("bar.>"))
        #expect(!permissions.allowsSubscribe(">"))
        #expect(!permissions.allowsSubscribe("baz.*"))
        let literal = Permissions(subscribe: SubjectPermission(allow: Self.entries(["foo.bar"])))
        #expect(!literal.allowsSubscribe("foo.*"))
    }

    @Test func queueEntries() {
        // As nats-server's comment: allow ["foo", "foo v1"] lets foo be subscribed plainly, queue only in v1.
        let permissions = Permissions(subscribe: SubjectPermission(allow: Self.entries(["foo", "foo v1"])))
        #expect(permissions.allowsSubscribe("foo"))
        #expect(permissions.allowsSubscribe("foo", queue: "v1"))
        #expect(!permissions.allowsSubscribe("foo", queue: "v2"))
        let onlyQueue = Permissions(subscribe: SubjectPermission(allow: Self.entries(["foo v1"])))
        #expect(!onlyQueue.allowsSubscribe("foo"))
        #expect(onlyQueue.allowsSubscribe("foo", queue: "v1"))
        let pattern = Permissions(subscribe: SubjectPermission(allow: Self.entries(["foo v1.*"])))
        #expect(pattern.allowsSubscribe("foo", queue: "v1.a"))
        #expect(!pattern.allowsSubscribe("foo", queue: "v2.a"))
        let denied = Permissions(subscribe: SubjectPermission(deny: Self.entries(["foo bad"])))
        #expect(denied.allowsSubscribe("foo"))
        #expect(denied.allowsSubscribe("foo", queue: "good"))
        #expect(!denied.allowsSubscribe("foo", queue: "bad"))
    }

    @Test func aWildcardSubscriptionOverADeniedSubjectIsFilteredOnDelivery() {
        let permissions = Permissions(subscribe: SubjectPermission(deny: Self.entries(["foo.secret"])))
        #expect(!permissions.allowsSubscribe("foo.secret"))
        #expect(permissions.allowsSubscribe("foo.*"))
        #expect(permissions.needsDeliveryFilter(forSubscription: "foo.*"))
        #expect(permissions.needsDeliveryFilter(forSubscription: ">"))
        #expect(!permissions.needsDeliveryFilter(forSubscription: "bar.*"))
        #expect(!permissions.needsDeliveryFilter(forSubscription: "foo.open"))
        #expect(permissions.deniesDelivery(of: "foo.secret"))
        #expect(!permissions.deniesDelivery(of: "foo.open"))
    }

    @Test func parsesEntries() {
        #expect(PermissionEntry("foo.bar").queue == nil)
        #expect(PermissionEntry("foo.bar  q1").subject == "foo.bar")
        #expect(PermissionEntry("foo.bar  q1").queue == "q1")
    }
}

@Suite struct ResponseAllowanceTests {
    @Test func oneReplyByDefaultWithinTheExpiry() {
        var allowance = ResponseAllowance(ResponsePermission())
        do { let allowed = allowance.allowsReply(to: "_INBOX.1", now: 0); #expect(!allowed) }
        allowance.delivered(reply: "_INBOX.1", now: 0)
        do { let allowed = allowance.allowsReply(to: "_INBOX.1", now: 1); #expect(allowed) }
        do { let allowed = allowance.allowsReply(to: "_INBOX.1", now: 1); #expect(!allowed) }
        allowance.delivered(reply: "_INBOX.2", now: 0)
        do { let allowed = allowance.allowsReply(to: "_INBOX.2", now: 121); #expect(!allowed) }
    }

    @Test func maxAndExpiresFromTheConfig() {
        var allowance = ResponseAllowance(ResponsePermission(maxMessages: 3, expires: -1))
        allowance.delivered(reply: "r", now: 0)
        for _ in 0..<3 { do { let allowed = allowance.allowsReply(to: "r", now: 10_000); #expect(allowed) } }
        do { let allowed = allowance.allowsReply(to: "r", now: 10_000); #expect(!allowed) }
        var unlimited = ResponseAllowance(ResponsePermission(maxMessages: -1, expires: 5))
        unlimited.delivered(reply: "r", now: 0)
        for _ in 0..<10 { do { let allowed = unlimited.allowsReply(to: "r", now: 4); #expect(allowed) } }
        do { let allowed = unlimited.allowsReply(to: "r", now: 6); #expect(!allowed) }
    }

    @Test func theMapStaysBounded() {
        var allowance = ResponseAllowance(ResponsePermission(maxMessages: 1, expires: 1))
        for i in 0..<5000 { allowance.delivered(reply: "r\(i)", now: Double(i)) }
        #expect(allowance.count <= ResponseAllowance.limit + 1)
    }
}

@Suite struct AuthenticatorTests {
    static func users() -> AuthConfiguration {
        var configuration = AuthConfiguration()
        configuration.users = [
            .init(name: "alice", password: "a-secret"),
            .init(name: "bob", password: "$2b$04$uiMNaQTQblMOCiudxHFmWOvlvPDVt0tvFTxBC/37SfVOySIB7z1wu",
                  permissions: Permissions(publish: SubjectPermission(allow: [PermissionEntry("bob.>")]))),
        ]
        configuration.nkeys = [.init(publicKey: NKeyTests.publicKey)]
        configuration.defaultPermissions = Permissions(subscribe: SubjectPermission(deny: [PermissionEntry("private.>")]))
        return configuration
    }

    @Test func openServerLetsEveryoneIn() {
        #expect(Authenticator.authenticate(Credentials(), nonce: nil, by: AuthConfiguration()) == .accepted(Identity()))
    }

    @Test func usersWithPlainAndBcryptPasswords() {
        let configuration = Self.users()
        let alice = Authenticator.authenticate(Credentials(user: "alice", password: "a-secret"), nonce: nil, by: configuration)
        #expect(alice.identity?.name == "alice")
        #expect(alice.identity?.permissions == configuration.defaultPermissions)
        let bob = Authenticator.authenticate(Credentials(user: "bob", password: "secret"), nonce: nil, by: configuration)
        #expect(bob.identity?.permissions?.allowsPublish("bob.x") == true)
        #expect(bob.identity?.permissions?.allowsPublish("alice.x") == false)
        #expect(Authenticator.isExpensive(Credentials(user: "bob"), by: configuration))
        #expect(!Authenticator.isExpensive(Credentials(user: "alice"), by: configuration))
        #expect(Authenticator.authenticate(Credentials(user: "bob", password: "a-secret"), nonce: nil, by: configuration)
                == .refused(reason: "wrong password for user \"bob\""))
        #expect(Authenticator.authenticate(Credentials(user: "carol", password: "x"), nonce: nil, by: configuration)
                == .refused(reason: "unknown user \"carol\""))
        #expect(Authenticator.authenticate(Credentials(), nonce: nil, by: configuration).identity == nil)
    }

    @Test func noAuthUserStandsInForAClientWithoutCredentials() {
        var configuration = Self.users()
        configuration.noAuthUser = "alice"
        #expect(configuration.validate() == nil)
        #expect(!configuration.advertisesAuthRequired)
        #expect(Authenticator.authenticate(Credentials(), nonce: nil, by: configuration).identity?.name == "alice")
        // Credentials that are given must still be right.
        #expect(Authenticator.authenticate(Credentials(user: "bob", password: "x"), nonce: nil, by: configuration).identity == nil)
        configuration.noAuthUser = "zed"
        #expect(configuration.validate() == "no_auth_user: \"zed\" not present as user in authorization block or account configuration")
    }

    @Test func nkeySignatureOfTheNonce() throws {
        let configuration = Self.users()
        let key = try NKeyTests.privateKey(fromSeed: NKeyTests.seed)
        let nonce = Authenticator.makeNonce()
        let signature = Base64.encodeRawURL(key.signature(of: Array(nonce.utf8)))
        let accepted = Authenticator.authenticate(Credentials(nkey: NKeyTests.publicKey, signature: signature), nonce: nonce, by: configuration)
        #expect(accepted.identity?.name == NKeyTests.publicKey)
        #expect(accepted.identity?.permissions == configuration.defaultPermissions)
        let other = Authenticator.makeNonce()
        #expect(Authenticator.authenticate(Credentials(nkey: NKeyTests.publicKey, signature: signature), nonce: other, by: configuration).identity == nil)
        #expect(Authenticator.authenticate(Credentials(nkey: NKeyTests.publicKey), nonce: nonce, by: configuration)
                == .refused(reason: "signature missing for nkey \(NKeyTests.publicKey)"))
        let stranger = NKeyPublicKey(raw: Ed25519.PrivateKey.random().publicKey).description
        #expect(Authenticator.authenticate(Credentials(nkey: stranger, signature: signature), nonce: nonce, by: configuration)
                == .refused(reason: "unknown nkey \(stranger)"))
    }

    @Test func singleTokenAndSingleUser() {
        var token = AuthConfiguration()
        token.token = "t0k"
        #expect(Authenticator.authenticate(Credentials(token: "t0k"), nonce: nil, by: token).identity != nil)
        #expect(Authenticator.authenticate(Credentials(token: "t0"), nonce: nil, by: token) == .refused(reason: "wrong token"))
        var user = AuthConfiguration()
        user.user = "u"
        user.password = "p"
        #expect(Authenticator.authenticate(Credentials(user: "u", password: "p"), nonce: nil, by: user).identity?.name == "u")
        #expect(Authenticator.authenticate(Credentials(user: "u", password: "q"), nonce: nil, by: user).identity == nil)
        #expect(Authenticator.authenticate(Credentials(user: "v", password: "p"), nonce: nil, by: user).identity == nil)
    }

    @Test func refusedReasonsNeverHoldTheSecret() {
        let configuration = Self.users()
        for credentials in [Credentials(user: "alice", password: "guess-1"), Credentials(user: "nobody", password: "guess-2"),
                            Credentials(token: "guess-3"), Credentials(nkey: NKeyTests.publicKey, signature: "guess-4")] {
            guard case .refused(let reason) = Authenticator.authenticate(credentials, nonce: "n", by: configuration) else {
                Issue.record("accepted \(credentials)")
                continue
            }
            #expect(!reason.contains("guess"))
        }
    }

    @Test func invalidConfigurationsAsNatsServerRefusesThem() {
        var configuration = AuthConfiguration()
        configuration.token = "t"
        configuration.user = "u"
        configuration.password = "p"
        #expect(configuration.validate() == "Cannot have a user/pass and token")
        configuration = Self.users()
        configuration.token = "t"
        #expect(configuration.validate() == "Can not have a token and a users array")
        configuration = Self.users()
        configuration.users.append(.init(name: "alice", password: "x"))
        #expect(configuration.validate() == "Duplicate user \"alice\" detected")
        configuration = Self.users()
        configuration.nkeys = [.init(publicKey: "UABC")]
        #expect(configuration.validate() == "Not a valid public nkey for a user")
        #expect(Self.users().validate() == nil)
    }
}

@Suite struct CertificateMappingTests {
    static func configuration() -> AuthConfiguration {
        var configuration = AuthConfiguration()
        configuration.users = [.init(name: "alice@example.com", password: ""), .init(name: "O=Acme, OU=eng, CN=bob", password: "")]
        return configuration
    }

    @Test func distinguishedNamesCompareInAnyOrder() {
        #expect(DistinguishedName("CN=bob,OU=eng,O=Acme") == DistinguishedName("o=Acme, OU=eng,CN=bob"))
        #expect(DistinguishedName("CN=bob,O=Acme") != DistinguishedName("CN=bob,OU=eng,O=Acme"))
        #expect(DistinguishedName("CN=a\\,b,O=x")?.attributes == ["CN=a\\,b", "O=x"])
        #expect(DistinguishedName("alice@example.com") == nil)
    }

    @Test func theFirstListedNameOrTheSubjectIsTheUser() {
        let configuration = Self.configuration()
        let alice = CertificateIdentity(names: ["other@example.com", "alice@example.com"], subject: DistinguishedName("CN=alice"))
        #expect(Authenticator.authenticate(Credentials(certificate: alice), nonce: nil, by: configuration).identity?.name == "alice@example.com")
        let bob = CertificateIdentity(names: [], subject: DistinguishedName("CN=bob,OU=eng,O=Acme"))
        #expect(Authenticator.authenticate(Credentials(certificate: bob), nonce: nil, by: configuration).identity?.name == "O=Acme, OU=eng, CN=bob")
        let carol = CertificateIdentity(names: ["carol@example.com"], subject: DistinguishedName("CN=carol"))
        #expect(Authenticator.authenticate(Credentials(certificate: carol), nonce: nil, by: configuration).identity == nil)
        // A user name in CONNECT does not override the certificate.
        #expect(Authenticator.authenticate(Credentials(user: "alice@example.com", certificate: carol), nonce: nil, by: configuration).identity == nil)
    }
}

/// `.creds` files as nsc writes them (the user JWT block, then the seed block).
@Suite struct CredentialsFileTests {
    static let text = """
        -----BEGIN NATS USER JWT-----
        eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln
        ------END NATS USER JWT------

        ************************* IMPORTANT *************************
        NKEY Seed printed below can be used to sign and prove identity.

        -----BEGIN USER NKEY SEED-----
        \(NKeyTests.seed)
        ------END USER NKEY SEED------
        """

    @Test func theJWTAndTheSeedAreRead() throws {
        let credentials = try CredentialsFile(parsing: Self.text)
        #expect(credentials.jwt == "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln")
        let seed = try NKeySeed(NKeyTests.seed)
        #expect(credentials.seed.publicKey == seed.publicKey)
        #expect(credentials.seed.sign(nonce: "n") == seed.sign(nonce: "n"))
    }

    @Test func malformedFilesAreRefused() {
        #expect(throws: CredentialsFile.Invalid.malformed) { _ = try CredentialsFile(parsing: "no blocks here") }
        #expect(throws: CredentialsFile.Invalid.badSeed) {
            _ = try CredentialsFile(parsing: Self.text.replacing(NKeyTests.seed, with: "SUAXXXX"))
        }
        #expect(throws: CredentialsFile.Invalid.self) { _ = try CredentialsFile.read("/nonexistent/leaf.creds") }
    }
}
