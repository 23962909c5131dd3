#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import NATSConfig

/// The server's command line, parsed: nats-server's flags where they overlap (`-a`, `-p`, `-n`, `-c`,
/// `-js`, `-sd`, `--user`, `--pass`, `--auth`, `--max_payload`, `-D`, `-V`), in `-flag value`,
/// `--flag value` or `--flag=value` form. A config file (`-c`, nats-server's format) is read first; flags
/// override it, also when the file is reloaded (``arguments`` are kept for that).
public struct ServerOptions: Sendable {
    public enum Action: Sendable, Equatable { case run, help, version, test }

    public var configuration = BrokerConfiguration()
    public var configPath: String?
    /// What the config file holds that is not served (logged at start).
    public var warnings: [ConfigWarning] = []
    public var action = Action.run
    /// The arguments parsed, to parse again (with the file read anew) on a reload.
    public var arguments: [String] = []

    public static let usage = """
    Usage: strata-server [options]

    Server options:
        -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
        -p, --port <port>                Use port for clients (default: 4222)
        -n, --name, --server_name <name> Server name (default: the server id)
        -c, --config <file>              Configuration file (nats-server's format, see README)
        -t                               Test the configuration file and exit
            --max_payload <bytes>        Maximum message payload (default: 1048576)
            --ping_interval <seconds>    Interval between server PINGs (default: 120)
            --max_pending <bytes>        Bytes pending to a client before it is a slow consumer (default: 67108864)
            --event_loops <n>            I/O threads (default: half the cores; strata only)

    Monitoring options:
        -m, --http_port <port>           Use port for http monitoring (/varz /connz /subsz /jsz /accountz /healthz /metrics)
        -ms,--https_port <port>          Use port for https monitoring (needs the TLS options)

    JetStream options:
        -js, --jetstream                 Enable JetStream (see Specs/Protocol.md for what is served)
        -sd, --store_dir <dir>           Storage directory (default: ./data)
            --js_sync <policy>           always (sync before every pub ack, default), none, interval:<n>ms
            --js_max_open_streams <n>    file streams kept open at once (default: from the open-file limit)

    Authorization options:
            --user <user>                User required for connections
            --pass <password>            Password required for connections
            --auth <token>               Authorization token required for connections

    TLS options:
            --tls                        Enable TLS, do not verify clients (default: false)
            --tlscert <file>             Server certificate file
            --tlskey <file>              Private key for server certificate
            --tlsverify                  Enable TLS, verify client certificates
            --tlscacert <file>           Client certificate CA for verification

    Logging options:
        -D, --debug                      Enable debugging output
        -V, --trace                      Trace the raw protocol

    Common options:
        -h, --help                       Show this message
        -v, --version                    Show version
    """

    public init() {}

    /// Parses `arguments` (without the program name).
    public static func parse(_ arguments: [String]) throws -> ServerOptions {
        var options = ServerOptions()
        options.arguments = arguments
        var args: [String] = []
        for argument in arguments {
            if argument.hasPrefix("-"), let eq = argument.firstIndex(of: "=") {
                args.append(String(argument[..<eq]))
                args.append(String(argument[argument.index(after: eq)...]))
            } else {
                args.append(argument)
            }
        }
        if let i = args.firstIndex(where: { ["-c", "--config", "-config"].contains($0) }) {
            guard i + 1 < args.count else { throw ConfigurationError("flag \(args[i]) needs a value") }
            options.configPath = args[i + 1]
            do {
                (options.configuration, options.warnings) = try ConfigFileOptions.load(path: args[i + 1])
            } catch {
                throw ConfigurationError(error.description)
            }
        }
        var index = 0
        func value(_ flag: String) throws -> String {
            index += 1
            guard index < args.count else { throw ConfigurationError("flag \(flag) needs a value") }
            return args[index]
        }
        func number(_ flag: String) throws -> Int {
            let text = try value(flag)
            guard let n = Int(text), n >= 0 else { throw ConfigurationError("flag \(flag) needs a number, got '\(text)'") }
            return n
        }
        var tlsFlags = (enabled: false, verify: false, cert: String?.none, key: String?.none, ca: String?.none)
        while index < args.count {
            let flag = args[index]
            switch flag {
            case "-a", "--addr", "--net", "-addr", "-net": options.configuration.host = try value(flag)
            case "-p", "--port", "-port": options.configuration.port = try number(flag)
            case "-n", "--name", "--server_name", "-name", "-server_name": options.configuration.serverName = try value(flag)
            case "-c", "--config", "-config": _ = try value(flag)
            case "--max_payload", "-max_payload": options.configuration.maxPayload = try number(flag)
            case "--ping_interval", "-ping_interval": options.configuration.pingInterval = Double(try number(flag))
            case "--max_pending", "-max_pending": options.configuration.maxPending = try number(flag)
            case "--event_loops", "-event_loops":
                let loops = try number(flag)
                guard loops > 0 else { throw ConfigurationError("--event_loops needs at least 1") }
                options.configuration.eventLoopThreads = loops
            case "-m", "--http_port", "-http_port": options.configuration.httpPort = try number(flag)
            case "-ms", "--https_port", "-https_port": options.configuration.httpsPort = try number(flag)
            case "-js", "--jetstream", "-jetstream": options.configuration.jetStream = true
            case "-sd", "--store_dir", "-store_dir": options.configuration.storeDirectory = try value(flag)
            case "--js_sync", "-js_sync":
                let policy = try value(flag)
                guard policy == "always" || policy == "none" || (policy.hasPrefix("interval:") && policy.hasSuffix("ms")) else {
                    throw ConfigurationError("--js_sync takes always, none or interval:<n>ms")
                }
                options.configuration.jetStreamSync = policy
            case "--js_max_open_streams", "-js_max_open_streams":
                let count = try number(flag)
                guard count > 0 else { throw ConfigurationError("--js_max_open_streams needs at least 1") }
                options.configuration.jetStreamMaxOpenStreams = count
            case "--user", "-user": options.configuration.auth.user = try value(flag)
            case "--pass", "-pass": options.configuration.auth.password = try value(flag)
            case "--auth", "-auth": options.configuration.auth.token = try value(flag)
            case "--tls", "-tls": tlsFlags.enabled = true
            case "--tlsverify", "-tlsverify": tlsFlags.enabled = true; tlsFlags.verify = true
            case "--tlscert", "-tlscert": tlsFlags.cert = try value(flag)
            case "--tlskey", "-tlskey": tlsFlags.key = try value(flag)
            case "--tlscacert", "-tlscacert": tlsFlags.ca = try value(flag)
            case "-D", "--debug", "-debug": options.configuration.debug = true
            case "-V", "--trace", "-trace": options.configuration.trace = true
            case "-DV", "-VD": options.configuration.debug = true; options.configuration.trace = true
            case "-t": options.action = .test
            case "-h", "--help", "-help": options.action = .help
            case "-v", "--version", "-version": options.action = .version
            default: throw ConfigurationError("unknown flag \(flag)")
            }
            index += 1
        }
        if tlsFlags.enabled || tlsFlags.cert != nil || tlsFlags.key != nil || tlsFlags.ca != nil {
            // As nats-server: the flags override the config file's `tls` block, field by field.
            guard let cert = tlsFlags.cert ?? options.configuration.tls?.certFile,
                  let key = tlsFlags.key ?? options.configuration.tls?.keyFile else {
                throw ConfigurationError("TLS Server certificate must be present and valid (--tlscert and --tlskey)")
            }
            var tls = options.configuration.tls ?? TLSSettings(certFile: cert, keyFile: key)
            tls.certFile = cert
            tls.keyFile = key
            if let ca = tlsFlags.ca { tls.caFile = ca }
            if tlsFlags.verify { tls.verify = true }
            options.configuration.tls = tls
        }
        if options.configuration.port > 65535 { throw ConfigurationError("port \(options.configuration.port) is out of range") }
        if options.configuration.jetStream && options.configuration.storeDirectory == nil {
            options.configuration.storeDirectory = "./data"
        }
        return options
    }
}
