import Foundation
import Testing
@testable import Broker

@Suite struct ServerOptionsTests {
    @Test func natsServerFlags() throws {
        let options = try ServerOptions.parse(["-a", "127.0.0.1", "-p", "4333", "-n", "east", "-js", "-sd", "/tmp/x",
                                               "--user", "u", "--pass", "p", "--max_payload=2048", "-D"])
        #expect(options.configuration.host == "127.0.0.1" && options.configuration.port == 4333)
        #expect(options.configuration.serverName == "east" && options.configuration.jetStream)
        #expect(options.configuration.storeDirectory == "/tmp/x" && options.configuration.maxPayload == 2048)
        #expect(options.configuration.auth.user == "u" && options.configuration.auth.password == "p" && options.configuration.debug)
        #expect(try ServerOptions.parse(["-js"]).configuration.storeDirectory == "./data")
        #expect(try ServerOptions.parse(["--help"]).action == .help)
        #expect(try ServerOptions.parse(["-v"]).action == .version)
    }

    @Test func badFlagsAreClearErrors() {
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["--bogus"]) }
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["-p"]) }
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["-p", "http"]) }
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["-p", "70000"]) }
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["-c", "/nonexistent.json"]) }
        var both = BrokerConfiguration()
        both.auth.token = "t"
        both.auth.user = "u"
        both.auth.password = "p"
        #expect(throws: ConfigurationError.self) { _ = try BrokerServer(configuration: both) }
    }

    @Test func configFileThenFlags() throws {
        let path = NSTemporaryDirectory() + "strata-config-\(UUID().uuidString).json"
        try Data(#"{"port": 5000, "max_payload": 4096, "authorization": {"token": "abc"}, "jetstream": {"store_dir": "/srv/js"}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let options = try ServerOptions.parse(["-c", path, "-p", "6000"])
        #expect(options.configuration.port == 6000 && options.configuration.maxPayload == 4096)
        #expect(options.configuration.auth.token == "abc" && options.configuration.storeDirectory == "/srv/js")
        #expect(options.configPath == path)
    }
}

@Suite struct TLSFlagsTests {
    @Test func tlsFlagsAsNatsServerTakesThem() throws {
        let options = try ServerOptions.parse(["--tlsverify", "--tlscert", "/c.pem", "--tlskey=/k.pem", "--tlscacert", "/ca.pem"])
        let tls = try #require(options.configuration.tls)
        #expect(tls.certFile == "/c.pem" && tls.keyFile == "/k.pem" && tls.caFile == "/ca.pem" && tls.verify && tls.timeout == 2)
        #expect(try ServerOptions.parse(["--tls", "--tlscert", "/c", "--tlskey", "/k"]).configuration.tls?.verify == false)
        #expect(throws: ConfigurationError.self) { _ = try ServerOptions.parse(["--tls", "--tlscert", "/c"]) }
        #expect(try ServerOptions.parse([]).configuration.tls == nil)
        // A certificate that cannot be read stops the server with its path.
        var configuration = BrokerConfiguration()
        configuration.tls = TLSSettings(certFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem")
        let error = #expect(throws: ConfigurationError.self) { _ = try BrokerServer(configuration: configuration) }
        #expect(error?.description.contains("/nonexistent/cert.pem") == true)
    }
}
