import Auth
import Broker
import NATSConfig
import Testing

/// nats-server config files read onto the broker's configuration, with no disk and no server.
@Suite struct ConfigFileOptionsTests {
    func read(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> (BrokerConfiguration, [ConfigWarning]) {
        let map = try ConfigParser(environment: environment) { _ in "" }.parse(text, file: "nats.conf")
        return try ConfigFileOptions.read(map, onto: BrokerConfiguration())
    }

    @Test func aNatsServerConfigIsServed() throws {
        let (config, warnings) = try read("""
        # as a user's nats-server.conf has it
        listen: 127.0.0.1:4333
        server_name: hub-1
        max_payload: 2MB
        max_control_line = 8KB
        max_pending: 32MB
        max_connections: 500
        ping_interval: "30s"
        ping_max 3
        write_deadline: "5s"
        debug: true
        logtime: false
        log_file: "/var/log/strata.log"
        pid_file: /run/strata.pid
        PASS: $SECRET_FROM_ENV
        authorization { user: alice, password: $PASS }
        jetstream {
          store_dir: /var/lib/strata
          max_memory_store: 1GB
          max_file_store: 10GB
          domain: hub
          strata_sync: "20ms"
        }
        """, environment: ["SECRET_FROM_ENV": "s3cr3t"])
        #expect(warnings.isEmpty)
        #expect(config.host == "127.0.0.1" && config.port == 4333 && config.serverName == "hub-1")
        #expect(config.maxPayload == 2 << 20 && config.maxControlLine == 8192 && config.maxPending == 32 << 20)
        #expect(config.maxConnections == 500 && config.pingInterval == 30 && config.maxPingsOut == 3 && config.writeDeadline == 5)
        #expect(config.debug && !config.trace && !config.logTime)
        #expect(config.logFile == "/var/log/strata.log" && config.pidFile == "/run/strata.pid")
        #expect(config.auth.user == "alice" && config.auth.password == "s3cr3t" && config.authRequired)
        #expect(config.jetStream && config.storeDirectory == "/var/lib/strata" && config.jetStreamDomain == "hub")
        #expect(config.maxMemoryStore == 1 << 30 && config.maxFileStore == 10 << 30 && config.jetStreamSync == "interval:20ms")
    }

    @Test func jsonStaysAccepted() throws {
        let (config, _) = try read(#"{"host": "0.0.0.0", "port": 5000, "authorization": {"token": "t"}, "jetstream": {"store_dir": "/js"}}"#)
        #expect(config.port == 5000 && config.auth.token == "t" && config.jetStream && config.storeDirectory == "/js")
    }

    @Test func jetStreamSwitches() throws {
        #expect(try read("jetstream: enabled").0.jetStream)
        #expect(try !read("jetstream: false").0.jetStream)
        #expect(try !read("jetstream { enabled: false, store_dir: /x }").0.jetStream)
        #expect(try read("jetstream { sync_interval: always }").0.jetStreamSync == "always")
        #expect(try read("jetstream { sync_interval: \"2m\" }").0.jetStreamSync == "interval:120000ms")
        #expect(try read("listen: \":4999\"").0.port == 4999)
        #expect(try read("listen: 4998").0.port == 4998)
    }

    @Test func usersPermissionsAndTLS() throws {
        let text = """
        no_auth_user: guest
        authorization {
          timeout: 1.5
          default_permissions { subscribe { deny: "private.>" } }
          users = [
            { user: guest, password: "" }
            { user: svc, password: "$2a$11$abcdefghijklmnopqrstuuNbyPZXzJ7Q2N2S4KVRTbl9yE3f/9HJS",
              permissions { publish: ["svc.>", "$JS.API.>"], subscribe { allow: ["req.*", "req.* workers"], deny: "req.secret" },
                            allow_responses { max: 3, expires: "1s" } } }
            { nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4, permissions { publish: "n.>" } }
          ]
        }
        tls { cert_file: "/c.pem", key_file: "/k.pem", ca_file: "/ca.pem", verify: true, timeout: 3, cipher_suites: [] }
        """
        let (config, warnings) = try read(text)
        #expect(config.auth.noAuthUser == "guest" && config.auth.timeout == 1.5)
        #expect(config.auth.users.map(\.name) == ["guest", "svc"])
        let svc = try #require(config.auth.users.last?.permissions)
        #expect(svc.publish?.allow == [PermissionEntry("svc.>"), PermissionEntry("$JS.API.>")])
        #expect(svc.subscribe?.allow?.last?.queue == "workers" && svc.subscribe?.deny == [PermissionEntry("req.secret")])
        #expect(svc.responses == ResponsePermission(maxMessages: 3, expires: 1))
        #expect(config.auth.nkeys.first?.permissions?.publish?.allow == [PermissionEntry("n.>")])
        #expect(config.auth.defaultPermissions?.subscribe?.deny == [PermissionEntry("private.>")])
        #expect(config.tls?.caFile == "/ca.pem" && config.tls?.verify == true && config.tls?.timeout == 3)
        #expect(config.authTimeout == 1.5)
        #expect(warnings.map(\.description) == ["nats.conf:13:94: 'tls { cipher_suites }' is a nats-server option strata does not serve yet: ignored"])
        #expect(try read("tls { cert_file: c, key_file: k }").0.authTimeout == 3)
        #expect(try read("authorization { permissions { publish: x, allow_responses: true } }").0.auth.defaultPermissions?.responses
                == ResponsePermission())
    }

    @Test func keysNatsServerKnowsButStrataDoesNotServeAreWarnedAbout() throws {
        let (_, warnings) = try read("port: 4222\ncluster { port: 6222 }\nhttp_port: 8222\nauthorization { token: x\n  timeout: 2 }\njetstream { cipher: aes }\n")
        #expect(warnings.map(\.description) == [
            "nats.conf:2:1: 'cluster' is a nats-server option strata does not serve yet: ignored",
            "nats.conf:6:13: 'jetstream { cipher }' is a nats-server option strata does not serve yet: ignored",
        ])
    }

    @Test func anIntegerDurationIsSecondsWithAWarning() throws {
        let (config, warnings) = try read("ping_interval: 60")
        #expect(config.pingInterval == 60 && warnings.count == 1)
    }

    @Test(arguments: [
        ("foo_bar: 1", "nats.conf:1:1: unknown field \"foo_bar\""),
        ("jetstream { store_dir: /x, foo: 1 }", "nats.conf:1:28: unknown field \"foo\""),
        ("port: \"abc\"", "nats.conf:1:7: 'port' expects an integer, got a string"),
        ("port: 70000", "nats.conf:1:7: 'port' must be between 0 and 65535, got 70000"),
        ("listen: \"nowhere\"", "nats.conf:1:9: 'listen' expects host:port, got 'nowhere'"),
        ("max_payload: 64XB", "nats.conf:1:14: 'max_payload' expects a size such as 1024, 64KB, 64MB or 1GB, got '64XB'"),
        ("max_payload: 0", "nats.conf:1:14: 'max_payload' must be between 1 and 67108864 bytes, got 0"),
        ("ping_interval: \"2x\"", "nats.conf:1:16: 'ping_interval' expects a duration such as \"30s\", \"2m\" or \"1h30m\", got '2x'"),
        ("debug: sometimes", "nats.conf:1:8: 'debug' expects a boolean, got a string"),
        ("authorization { user: a }", "nats.conf:1:15: a user needs a password, and a password a user"),
        ("authorization { token: t, user: a, password: b }", "nats.conf:1:15: Cannot have a user/pass and token"),
        ("authorization { token: t, users: [ { user: a, password: b } ] }", "nats.conf:1:15: Can not have a token and a users array"),
        ("authorization { users: [ { user: a, password: b }, { user: a, password: c } ] }", "nats.conf:1:15: Duplicate user \"a\" detected"),
        ("authorization { users: [ { nkey: UABC } ] }", "nats.conf:1:26: Not a valid public nkey for a user"),
        ("authorization { users: [ { password: b } ] }", "nats.conf:1:26: User entry requires a user"),
        ("authorization { users: [ { user: a, password: b, permissions: { publish: { allow: [\"a..b\"] } } } ] }",
         "nats.conf:1:84: subject \"a..b\" is not a valid subject"),
        ("authorization { users: [ { user: a, password: b, permissions: { publish: { permit: x } } } ] }",
         "nats.conf:1:76: Unknown field name \"permit\" parsing subject permissions, only 'allow' or 'deny' are permitted"),
        ("authorization { users: [ { user: a, password: b, colour: red } ] }", "nats.conf:1:50: unknown field \"colour\""),
        ("no_auth_user: zed\nauthorization { users: [ { user: a, password: b } ] }",
         "nats.conf:2:15: no_auth_user: \"zed\" not present as user in authorization block or account configuration"),
        ("tls { key_file: k }", "nats.conf:1:5: missing 'cert_file' in TLS configuration"),
        ("tls { cert_file: c, key_file: k, colour: red }", "nats.conf:1:34: error parsing tls config, unknown field [\"colour\"]"),
        ("jetstream { domain: \"a.b\" }", "nats.conf:1:21: 'domain' must be one subject token, got 'a.b'"),
        ("authorization: 5", "nats.conf:1:16: 'authorization' expects a block { }, got an integer"),
    ])
    func badValuesAreRefusedWithTheirPlace(_ text: String, _ expected: String) {
        let error = #expect(throws: ConfigError.self) { try read(text) }
        #expect(error?.description == expected)
    }

    @Test func variablesAreDefinitionsNotOptions() throws {
        // `LIMIT` is not an option nats-server knows: used as a variable, it is no error.
        let (config, warnings) = try read("LIMIT: 2048\nmax_payload: $LIMIT\n")
        #expect(config.maxPayload == 2048 && warnings.isEmpty)
    }

    @Test func reloadRefusesWhatCannotChangeWhileRunning() {
        var old = BrokerConfiguration()
        old.jetStream = true
        old.storeDirectory = "/a"
        var new = old
        new.maxPayload = 1024
        new.auth.token = "t"
        new.pingInterval = 5
        #expect(ConfigurationReload.unchangeable(from: old, to: new).isEmpty)
        new.port = 5000
        new.storeDirectory = "/b"
        #expect(ConfigurationReload.unchangeable(from: old, to: new) == ["port", "store_dir"])
    }
}
