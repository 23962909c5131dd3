import NATSConfig
import Testing

@Suite struct ConfigValueReadingTests {
    func value(_ text: String) throws -> ConfigValue {
        try ConfigParser(environment: [:]) { _ in "" }.parse("v: \(text)", file: "t.conf")["v"]!
    }

    @Test(arguments: [("30s", 30.0), ("\"2m\"", 120), ("1h30m", 5400), ("500ms", 0.5), ("1.5s", 1.5), ("0", 0), ("\"250us\"", 0.00025)])
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(try value(text).duration(for: "v") == seconds)
    }

    @Test func integerDurationIsSecondsWithAWarning() throws {
        var warnings: [ConfigWarning] = []
        #expect(try value("120").duration(for: "ping_interval") { warnings.append($0) } == 120)
        #expect(warnings.count == 1 && warnings[0].location == SourceLocation(file: "t.conf", line: 1, column: 4))
    }

    @Test(arguments: ["2x", "\"s\"", "1h30", "--1s", "\"\""])
    func badDurations(_ text: String) throws {
        #expect(throws: ConfigError.self) { try value(text).duration(for: "v") }
    }

    @Test(arguments: [("1024", Int64(1024)), ("64MB", 64 << 20), ("\"64MB\"", 64 << 20), ("1GB", 1 << 30), ("1G", 1_000_000_000),
                      ("8k", 8000), ("8kb", 8192), ("2KiB", 2048), ("1TB", 1 << 40)])
    func sizes(_ text: String, _ bytes: Int64) throws {
        #expect(try value(text).size(for: "v") == bytes)
    }

    @Test func badSizeNamesTheKeyAndPlace() throws {
        let error = #expect(throws: ConfigError.self) { try value("64XB").size(for: "max_payload") }
        #expect(error?.description == "t.conf:1:4: 'max_payload' expects a size such as 1024, 64KB, 64MB or 1GB, got '64XB'")
    }

    @Test func kindMismatchNamesBoth() throws {
        let error = #expect(throws: ConfigError.self) { try value("{ a: 1 }").integer(for: "port") }
        #expect(error?.message == "'port' expects an integer, got a map")
    }

    @Test func environmentVariableIsReadAsAValue() throws {
        let parser = ConfigParser(environment: ["PORT": "4333", "BAD": "\"open"]) { _ in "" }
        #expect(try parser.parse("port: $PORT", file: "e.conf")["port"]?.kind == .integer(4333))
        let error = #expect(throws: ConfigError.self) { try parser.parse("x: $BAD", file: "e.conf") }
        #expect(error?.location == SourceLocation(file: "e.conf", line: 1, column: 4))
    }

    @Test func keysAreFoundIgnoringCaseAndLaterAssignmentsWin() throws {
        let map = try ConfigParser(environment: [:]) { _ in "" }.parse("Port: 1\nPort: 2\n", file: "k.conf")
        #expect(map["port"]?.kind == .integer(2) && map.entries.count == 1)
    }
}
