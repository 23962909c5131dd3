import Auth
import NATSConfig
import Testing
@testable import Broker

@Suite struct AccountsTests {
    @Test func subjectMappingOfImports() {
        #expect(SubjectMapping.map("svc.echo", from: "svc.echo", to: "svc.echo") == "svc.echo")
        #expect(SubjectMapping.map("a.echo", from: "a.echo", to: "svc.echo") == "svc.echo")
        #expect(SubjectMapping.map("a.x.y", from: "a.*.y", to: "svc.*.z") == "svc.x.z")
        #expect(SubjectMapping.map("a.x.y.z", from: "a.>", to: "svc.>") == "svc.x.y.z")
        #expect(SubjectMapping.imported("events.x", filter: "events.>", prefix: "fromA", to: nil) == "fromA.events.x")
        #expect(SubjectMapping.imported("events.x", filter: "events.>", prefix: nil, to: nil) == "events.x")
    }

    @Test func importsMustMatchAnExportToTheImporter() {
        var a = AccountSettings(name: "A")
        a.exports = [.init(kind: .service, subject: "svc.>"), .init(kind: .stream, subject: "private.>", accounts: ["C"])]
        var b = AccountSettings(name: "B")
        b.imports = [.init(kind: .service, account: "A", subject: "svc.echo", to: "a.echo")]
        #expect(AccountSettings.validate([a, b]) == nil)
        b.imports = [.init(kind: .stream, account: "A", subject: "private.x")]
        #expect(AccountSettings.validate([a, b]) == "account \"B\": stream import of \"private.x\" is not exported to it by \"A\"")
        b.imports = [.init(kind: .stream, account: "A", subject: "svc.x")]
        #expect(AccountSettings.validate([a, b])?.contains("not exported") == true)
        b.imports = [.init(kind: .service, account: "Z", subject: "svc.x")]
        #expect(AccountSettings.validate([a, b]) == "account \"B\": import from unknown account \"Z\"")
        #expect(AccountSettings.validate([a, AccountSettings(name: "A")]) == "duplicate account \"A\"")
        #expect(AccountSettings.validate([AccountSettings(name: "a/b")]) == "account name \"a/b\" cannot be used")
    }

    @Test func accountsFromTheConfigFile() throws {
        let text = """
        accounts {
          A: { users: [ { user: a, password: a } ], default_permissions: { publish: "a.>" },
               jetstream: { max_mem: 1MB, max_file: 1GB, max_streams: 3, max_consumers: 9 }, exports: [ { service: "svc.>" } ] }
          B: { users: [ { user: b, password: b, permissions: { publish: "b.>" } } ],
               imports: [ { service: { account: A, subject: "svc.x" }, to: "a.x" } ], mappings: { } }
        }
        authorization { users: [ { user: g, password: g } ] }
        """
        let (config, warnings) = try ConfigFileOptions.read(ConfigParser(environment: [:]) { _ in "" }.parse(text, file: "nats.conf"), onto: BrokerConfiguration())
        #expect(config.accounts.map(\.name) == ["A", "B"])
        #expect(config.accounts[0].jetStream?.maxMemory == 1 << 20 && config.accounts[0].jetStream?.maxStreams == 3)
        #expect(config.accounts[1].jetStream == nil && config.accounts[1].imports.first?.localSubject == "a.x")
        #expect(config.auth.users.map(\.account) == ["A", "B", "$G"])
        #expect(config.auth.users[0].permissions?.publish?.allow == [PermissionEntry("a.>")])
        #expect(config.auth.users[1].permissions?.publish?.allow == [PermissionEntry("b.>")])
        #expect(warnings.count == 1)
        let identity = Authenticator.authenticate(Credentials(user: "b", password: "b"), nonce: nil, by: config.auth).identity
        #expect(identity?.account == "B")
    }
}
