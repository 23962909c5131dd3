@testable import Broker
import NATSConfig

/// nats-server's config format, parsed and then read as the server's options, as `strata-server -c` does.
/// Includes resolve to two fixed texts (one of which includes itself), so include chains and their loop check
/// run without the disk. Invariants: parsing and reading fail with a ``ConfigError`` (typed throws: never
/// another error, never a crash or a hang); a parse is deterministic; and a text that parses, with a comment
/// line appended, parses to the same map.
enum ConfigTarget {
    static var parser: ConfigParser { ConfigParser(environment: ["HOME": "/root", "SELF": "$SELF", "PORT": "4333"]) { path in
        path.hasSuffix("loop.conf") ? "include loop.conf\n" : "included: 1\n"
    } }

    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        guard let map = try? parser.parse(text, file: "fuzz.conf") else { return }
        FuzzCheck.require((try? parser.parse(text + "\n# end\n", file: "fuzz.conf")) == map, "a trailing comment changes the parse")
        _ = try? ConfigFileOptions.read(map, onto: BrokerConfiguration())
    }
}
