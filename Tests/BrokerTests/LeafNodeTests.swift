import Auth
import NATSConfig
import NATSProtocol
import Testing
@testable import Broker

/// The leaf-node pieces that decide without sockets: interest counting, what may cross, the URL order,
/// JetStream's declared subjects and the `leafnodes { }` block.
@Suite struct LeafNodeTests {
    @Test func plainInterestIsSentWhenItAppearsAndGoes() {
        var interest = LeafInterest()
        let key = LeafInterestKey(subject: "orders.>")
        #expect(interest.change(key, by: 1) == .add(key, weight: 1))
        #expect(interest.change(key, by: 1) == nil)  // a second subscriber: nothing new for the hub
        #expect(interest.change(key, by: -1) == nil)
        #expect(interest.change(key, by: -1) == .remove(key))
        #expect(interest.counts.isEmpty)
    }

    @Test func queueInterestIsSentWithItsWeightAtEveryChange() {
        var interest = LeafInterest()
        let key = LeafInterestKey(subject: "work", queue: "workers")
        #expect(interest.change(key, by: 1) == .add(key, weight: 1))
        #expect(interest.change(key, by: 1) == .add(key, weight: 2))
        #expect(interest.change(key, by: -1) == .add(key, weight: 1))
        #expect(interest.change(key, by: -1) == .remove(key))
        _ = interest.change(LeafInterestKey(subject: "b"), by: 1)
        _ = interest.change(key, by: 3)
        #expect(interest.all.map(\.key.description) == ["b", "work workers"] && interest.all.map(\.weight) == [1, 3])
    }

    @Test func jetStreamIsDeniedBothWaysAndTheOwnDomainStaysHome() {
        let permissions = LeafPermissions.forConnection(denyImports: ["secret.>"], denyExports: ["private"], domain: "edge",
                                                        remoteDomain: nil, hasJetStream: true)
        // Interest declared to the hub.
        #expect(permissions.declares("orders.>") && permissions.declares("$JS.edge.API.STREAM.>") && permissions.declares("$JS.ACK.S.>"))
        #expect(!permissions.declares("$JS.API.>") && !permissions.declares("$JS.API.STREAM.INFO.X") && !permissions.declares("$KV.b.>"))
        #expect(!permissions.declares("secret.x") && permissions.declares("$LDS.abc"))
        // Messages taken from the hub.
        #expect(permissions.accepts("orders.1") && !permissions.accepts("$JS.API.INFO") && !permissions.accepts("$OBJ.x.y"))
        // Messages sent to the hub.
        #expect(permissions.sends("_INBOX.abc") && !permissions.sends("private") && !permissions.sends("$KV.b.k"))
        #expect(!permissions.sends("$JS.edge.API.INFO"))  // a request for this server's own domain does not leave
        #expect(permissions.keepsInterest(in: "foo") && !permissions.keepsInterest(in: "private") && permissions.keepsInterest(in: "priv.*"))
        let same = LeafPermissions.forConnection(denyImports: [], denyExports: [], domain: "edge", remoteDomain: "edge", hasJetStream: true)
        #expect(same.sends("$JS.edge.API.INFO") && !same.sends("$JS.API.INFO") && same.sends("orders.1") && same.accepts("orders.1"))
        #expect(!same.accepts("$KV.b.k") && same.accepts("$LDS.x"))
    }

    @Test func theHubsPermissionsForItsLeafUserAreMergedIn() {
        let permissions = LeafPermissions.forConnection(denyImports: [], denyExports: [], domain: nil, remoteDomain: nil, hasJetStream: false,
                                                        hubImport: LeafSubjectPermission(allow: ["in.>", "_INBOX.>"], deny: ["in.secret"]),
                                                        hubExport: LeafSubjectPermission(allow: ["out.*"]))
        #expect(permissions.declares("in.a.b") && permissions.declares("_INBOX.x.*") && !permissions.declares("other"))
        #expect(!permissions.declares("in.secret") && !permissions.declares(">") && permissions.declares("$LDS.x"))
        #expect(permissions.accepts("in.x") && !permissions.accepts("elsewhere"))
        #expect(permissions.sends("out.a") && !permissions.sends("out.a.b") && !permissions.sends("in.x"))
        #expect(!permissions.keepsInterest(in: "in.x") && permissions.keepsInterest(in: "out.a"))
    }

    @Test func jetStreamDeclaresStreamsAcksFlowControlAndTheDomainMappings() {
        let subjects = JetStreamInterest.subjects(streams: [("ORDERS", ["orders.>", "refunds"]), ("KV_b", ["$KV.b.>"])], domain: "edge")
        #expect(subjects.isSuperset(of: ["orders.>", "refunds", "$JS.ACK.ORDERS.>", "$JS.FC.ORDERS.>", "$KV.b.>", "$JS.ACK.KV_b.>"]))
        #expect(subjects.isSuperset(of: ["$JS.edge.API.INFO", "$JS.edge.API.STREAM.>", "$JS.edge.API.CONSUMER.>", "$JS.edge.API.DIRECT.>",
                                         "$JS.edge.API.$KV.>", "$JS.edge.API.$OBJ.>", "$JS.edge.API.META.>", "$JS.edge.API.SERVER.>",
                                         "$JS.edge.API.ACCOUNT.>"]))
        #expect(subjects.count == 6 + 9 + 1)
        #expect(JetStreamInterest.subjects(streams: [], domain: nil).isEmpty)
    }

    @Test func urlsRotateAndTheHubsListComesFirst() throws {
        let a = try #require(LeafURL(parsing: "nats-leaf://u:p%40ss@a:7001")), b = try #require(LeafURL(parsing: "b:7002"))
        #expect(a.user == "u" && a.password == "p@ss" && a.description == "nats-leaf://u:[REDACTED]@a:7001")
        #expect(LeafURL(parsing: "nats-leaf://host")?.port == 7422 && LeafURL(parsing: "http://x:1") == nil && LeafURL(parsing: "h:0") == nil)
        #expect(LeafURL(parsing: "nats-leaf://[::1]:9")?.hostPort == "[::1]:9")
        var list = LeafURLList([a, b], randomize: false)
        #expect(list.next() == a)
        #expect(list.next() == b)  // the one just tried goes to the back
        #expect(list.next() == a)
        list.learned(["a:7001", "c:7003"])  // the hub names its cluster: new ones first, the configured after
        #expect(list.urls.map(\.hostPort) == ["c:7003", "a:7001", "b:7002"])
        #expect(list.urls[1].user == "u")  // (the configured entry keeps its credentials)
        #expect(list.next()?.hostPort == "c:7003")
    }

    @Test func theLeafnodesBlockIsRead() throws {
        let map = try ConfigParser(environment: [:]) { _ in "" }.parse("""
            accounts { A: { users: [ { user: a, password: a } ] } }
            leafnodes {
              reconnect: 3
              remotes = [
                { urls: ["nats-leaf://u:p@hub1:7422", "nats-leaf://hub2"], account: A, deny_imports: ["secret.>"], deny_exports: "private" }
                { url: "nats-leaf://hub3:7500", credentials: "/etc/leaf.creds", no_randomize: true }
              ]
            }
            """, file: "leaf.conf")
        let (config, warnings) = try ConfigFileOptions.read(map, onto: BrokerConfiguration())
        #expect(warnings.isEmpty)
        let leaf = config.leafNodes
        #expect(leaf.reconnectInterval == 3 && leaf.remotes.count == 2 && leaf.listen == nil)
        #expect(leaf.remotes[0].urls.map(\.hostPort) == ["hub1:7422", "hub2:7422"] && leaf.remotes[0].account == "A")
        #expect(leaf.remotes[0].denyImports == ["secret.>"] && leaf.remotes[0].denyExports == ["private"])
        #expect(leaf.remotes[1].credentials == "/etc/leaf.creds" && leaf.remotes[1].noRandomize && leaf.remotes[1].urls[0].port == 7500)
    }

    @Test func leafnodesMistakesAreClearErrors() throws {
        func read(_ text: String) throws(ConfigError) -> (BrokerConfiguration, [ConfigWarning]) {
            try ConfigFileOptions.read(try ConfigParser(environment: [:]) { _ in "" }.parse(text, file: "leaf.conf"), onto: BrokerConfiguration())
        }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { remotes = [ { urls: [\"http://x\"] } ] }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { remotes = [ { account: A } ] }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { remotes = [ { url: \"a\", colour: red } ] }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { remotes = [ { url: \"a\", deny_imports: \"a..b\" } ] }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { listen: nowhere }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { authorization { users: [ { password: x } ] } }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { authorization { colour: red } }") }
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { listen: 127.0.0.1:7422, tls { ca_file: x } }") }  // (no cert_file)
        #expect(throws: ConfigError.self) { _ = try read("leafnodes { remotes = [ { url: a, tls { cert_file: c } } ] }") }  // (no key_file)
        let (config, warnings) = try read("""
            leafnodes {
              listen: 127.0.0.1:7422, tls { cert_file: s.pem, key_file: s.key, ca_file: ca.pem, verify: true, timeout: 3 }
              remotes = [ { url: "nats-leaf://hub:7422", tls { ca_file: ca.pem, cert_file: l.pem, key_file: l.key, insecure: true } } ]
            }
            """)
        #expect(warnings.isEmpty)
        #expect(config.leafNodes.listen?.host == "127.0.0.1" && config.leafNodes.tls?.verify == true && config.leafNodes.tls?.timeout == 3)
        let tls = try #require(config.leafNodes.remotes.first?.tls)
        #expect(tls.caFile == "ca.pem" && tls.certFile == "l.pem" && tls.keyFile == "l.key" && tls.insecure && tls.timeout == 2)
    }

    @Test func theHubRoleIsRead() throws {
        func read(_ text: String) throws -> BrokerConfiguration {
            try ConfigFileOptions.read(try ConfigParser(environment: [:]) { _ in "" }.parse(text, file: "hub.conf"), onto: BrokerConfiguration()).0
        }
        let single = try read("leafnodes { port: 7500, authorization { user: leaf, password: pw, account: A, timeout: 3 } }")
        #expect(single.leafNodes.listen?.host == "0.0.0.0" && single.leafNodes.listen?.port == 7500)
        let auth = try #require(single.leafNodes.authorization)
        #expect(auth.timeout == 3 && auth.users.map(\.name) == ["leaf"] && auth.users[0].account == "A" && auth.users[0].password == "pw")
        let many = try read("leafnodes { host: 10.0.0.1, authorization { users: [ { user: a, password: x }, { user: b, password: y, account: B } ] } }")
        #expect(many.leafNodes.listen?.host == "10.0.0.1" && many.leafNodes.listen?.port == 7422)
        #expect(many.leafNodes.authorization?.users.map(\.account) == ["$G", "B"])
        // The users decide through the Authenticator, as leaf-node connections.
        let configuration = try #require(many.leafNodes.authorization).configuration
        #expect(Authenticator.authenticate(Credentials(user: "b", password: "y"), nonce: nil, by: configuration,
                                           connectionType: AuthConfiguration.leafNodeConnection).identity?.account == "B")
        #expect(Authenticator.authenticate(Credentials(user: "b", password: "n"), nonce: nil, by: configuration,
                                           connectionType: AuthConfiguration.leafNodeConnection).identity == nil)
    }

    @Test func allowedConnectionTypesTellClientsFromLeaves() {
        var auth = AuthConfiguration()
        auth.users = [AuthConfiguration.User(name: "edge", password: "pw", connectionTypes: [AuthConfiguration.leafNodeConnection]),
                      AuthConfiguration.User(name: "app", password: "pw", connectionTypes: [AuthConfiguration.standardConnection])]
        let edge = Credentials(user: "edge", password: "pw"), app = Credentials(user: "app", password: "pw")
        #expect(Authenticator.authenticate(edge, nonce: nil, by: auth, connectionType: AuthConfiguration.leafNodeConnection).identity != nil)
        #expect(Authenticator.authenticate(edge, nonce: nil, by: auth) == .refused(reason: "user \"edge\" may not connect as a standard client"))
        #expect(Authenticator.authenticate(app, nonce: nil, by: auth, connectionType: AuthConfiguration.leafNodeConnection)
                == .refused(reason: "user \"app\" may not connect as a leafnode connection"))
    }
}
