import NATSConfig

/// nats-server's options, read from a parsed config file onto a ``BrokerConfiguration``. Pure: no files, no
/// logging; the caller logs the warnings.
///
/// Every key is one of three kinds, as in nats-server (which refuses a key it does not know with
/// `unknown field`): served (read and acted on), known to nats-server but not served by Strata yet (a
/// warning naming it and where it is, never silently ignored), or unknown (an error). An entry that was
/// only used as a variable (`TOKEN: x` … `token: $TOKEN`) is a definition, not an option.
public enum ConfigFileOptions {
    /// Reads `map` onto `base`; returns the configuration and the warnings to log.
    public static func read(_ map: ConfigMap, onto base: BrokerConfiguration) throws(ConfigError) -> (BrokerConfiguration, [ConfigWarning]) {
        var reading = Reading(configuration: base)
        try reading.top(map)
        return (reading.configuration, reading.warnings)
    }

    /// Parses the file at `path` (nats-server's format; JSON is a subset) and reads it onto `base`.
    public static func load(path: String, onto base: BrokerConfiguration = BrokerConfiguration(),
                            parser: ConfigParser = .system()) throws(ConfigError) -> (BrokerConfiguration, [ConfigWarning]) {
        try read(parser.parse(file: path), onto: base)
    }

    /// nats-server 2.9's top-level options that Strata does not serve yet (a warning each).
    static let unservedTopLevel: Set<String> = [
        "client_advertise", "trace_verbose", "mappings", "maps", "disable_sublist_cache", "no_sublist_cache",
         "http_base_path", "cluster", "gateway",
        "logfile_size_limit", "log_size_limit", "syslog", "remote_syslog", "ports_file_dir", "prof_port", "max_traced_msg_len",
        "max_subscriptions", "max_subs", "max_sub_tokens", "max_subscription_tokens", "ocsp", "allow_non_tls",
        "lame_duck_duration", "lame_duck_grace_period", "operator", "operators", "roots", "root", "root_operators",
        "root_operator", "resolver", "account_resolver", "accounts_resolver", "resolver_tls", "resolver_preload",
        "resolver_pinned_accounts", "system_account", "system", "no_system_account", "no_system", "no_sys_acc",
        "no_header_support", "trusted", "trusted_keys", "connect_error_reports", "reconnect_error_reports", "websocket", "ws",
        "mqtt", "server_tags", "default_js_domain",
    ]
    static let unservedJetStream: Set<String> = [
        "key", "ek", "encryption_key", "cipher", "limits", "unique_tag", "max_outstanding_catchup", "extension_hint",
    ]

    struct Reading {
        var configuration: BrokerConfiguration
        var warnings: [ConfigWarning] = []

        mutating func top(_ map: ConfigMap) throws(ConfigError) {
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased(), value = entry.value
                switch key {
                case "listen": try listen(value)
                case "host", "net": configuration.host = try value.string(for: key)
                case "port": configuration.port = Int(try value.integer(for: key, in: 0...65535))
                case "server_name":
                    let name = try value.string(for: key)
                    guard !name.contains(" ") else { throw ConfigError("'server_name' cannot contain spaces", at: value.location) }
                    configuration.serverName = name
                case "max_payload": configuration.maxPayload = Int(try positiveSize(value, key, max: 64 << 20))
                case "max_control_line": configuration.maxControlLine = Int(try positiveSize(value, key, max: 1 << 30))
                case "max_pending": configuration.maxPending = Int(try positiveSize(value, key, max: Int64(Int32.max)))
                case "max_connections", "max_conn": configuration.maxConnections = Int(try value.integer(for: key, in: 0...Int64(Int32.max)))
                case "ping_interval": configuration.pingInterval = try positiveDuration(value, key)
                case "ping_max": configuration.maxPingsOut = Int(try value.integer(for: key, in: 1...1_000_000))
                case "write_deadline": configuration.writeDeadline = try positiveDuration(value, key)
                case "debug": configuration.debug = try value.bool(for: key)
                case "trace": configuration.trace = try value.bool(for: key)
                case "logtime": configuration.logTime = try value.bool(for: key)
                case "logfile", "log_file": configuration.logFile = try value.string(for: key)
                case "pidfile", "pid_file": configuration.pidFile = try value.string(for: key)
                case "store_dir", "storedir": configuration.storeDirectory = try value.string(for: key)
                case "authorization": try authorization(value.map(for: key))
                case "no_auth_user": configuration.auth.noAuthUser = try value.string(for: key)
                case "tls": try tls(value)
                case "http_port", "monitor_port": configuration.httpPort = Int(try value.integer(for: key, in: 0...65535))
                case "https_port": configuration.httpsPort = Int(try value.integer(for: key, in: 0...65535))
                case "http", "https":  // `http: 8222` or `http: "host:port"`
                    var port: Int
                    if case .integer = value.kind {
                        port = Int(try value.integer(for: key, in: 0...65535))
                    } else {
                        let text = try value.string(for: key)
                        guard let colon = text.lastIndex(of: ":"), let parsed = Int(text[text.index(after: colon)...]), (0...65535).contains(parsed) else {
                            throw ConfigError("'\(key)' expects host:port or a port, got '\(text)'", at: value.location)
                        }
                        if colon != text.startIndex { configuration.httpHost = String(text[..<colon]) }
                        port = parsed
                    }
                    if key == "http" { configuration.httpPort = port } else { configuration.httpsPort = port }
                case "accounts": try accounts(value)
                case "jetstream": try jetStream(value)
                case "leafnodes", "leaf": try leafNodes(value)
                default:
                    try unserved(entry, known: ConfigFileOptions.unservedTopLevel)
                }
            }
            if let problem = configuration.auth.validate() {
                let location = (map.entry("authorization") ?? map.entry("no_auth_user"))?.value.location ?? map.entries[0].keyLocation
                throw ConfigError(problem, at: location)
            }
        }

        mutating func listen(_ value: ConfigValue) throws(ConfigError) {
            if case .integer(let port) = value.kind {
                configuration.port = Int(try value.integer(for: "listen", in: 0...65535))
                _ = port
                return
            }
            let text = try value.string(for: "listen")
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
                throw ConfigError("'listen' expects host:port, got '\(text)'", at: value.location)
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if !host.isEmpty { configuration.host = host }
            configuration.port = port
        }

        mutating func jetStream(_ value: ConfigValue) throws(ConfigError) {
            switch value.kind {
            case .bool(let on): configuration.jetStream = on; return
            case .string(let text):
                switch text.lowercased() {
                case "enabled", "enable": configuration.jetStream = true
                case "disabled", "disable": configuration.jetStream = false
                default: throw ConfigError("'jetstream' expects a block, a boolean, enabled or disabled, got '\(text)'", at: value.location)
                }
                return
            default: break
            }
            let map = try value.map(for: "jetstream")
            configuration.jetStream = true
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased(), value = entry.value
                switch key {
                case "enabled", "enable": configuration.jetStream = try value.bool(for: key)
                case "disabled", "disable": configuration.jetStream = !(try value.bool(for: key))
                case "store", "store_dir", "storedir": configuration.storeDirectory = try value.string(for: key)
                case "max_memory_store", "max_mem_store", "max_mem": configuration.maxMemoryStore = try value.size(for: key)
                case "max_file_store", "max_file": configuration.maxFileStore = try value.size(for: key)
                case "domain":
                    let domain = try value.string(for: key)
                    guard !domain.isEmpty, !domain.contains("."), !domain.contains(" "), !domain.contains("*"), !domain.contains(">") else {
                        throw ConfigError("'domain' must be one subject token, got '\(domain)'", at: value.location)
                    }
                    configuration.jetStreamDomain = domain
                case "strata_sync": configuration.jetStreamSync = try syncPolicy(value, key)
                case "strata_max_open_streams":
                    let count = try value.integer(for: key)
                    guard count > 0 else { throw ConfigError("'strata_max_open_streams' must be at least 1, got \(count)", at: value.location) }
                    configuration.jetStreamMaxOpenStreams = Int(count)
                case "sync_interval":  // nats-server 2.10's key: `always`, or how often to sync
                    configuration.jetStreamSync = try syncPolicy(value, key)
                default: try unserved(entry, known: ConfigFileOptions.unservedJetStream, within: "jetstream")
                }
            }
        }

        /// `always` (sync before each pub ack), `none`, or a duration between syncs (`"100ms"`, `2m`).
        mutating func syncPolicy(_ value: ConfigValue, _ key: String) throws(ConfigError) -> String {
            if case .string(let text) = value.kind, text == "always" || text == "none" { return text }
            let seconds = try positiveDuration(value, key)
            return "interval:\(max(1, Int((seconds * 1000).rounded())))ms"
        }

        mutating func unserved(_ entry: ConfigMap.Entry, known: Set<String>, within block: String? = nil) throws(ConfigError) {
            let key = entry.key.lowercased()
            let name = block.map { "\($0) { \(entry.key) }" } ?? entry.key
            guard known.contains(key) else { throw ConfigError("unknown field \"\(entry.key)\"", at: entry.keyLocation) }
            warnings.append(ConfigWarning("'\(name)' is a nats-server option strata does not serve yet: ignored", at: entry.keyLocation))
        }

        func positiveSize(_ value: ConfigValue, _ key: String, max: Int64) throws(ConfigError) -> Int64 {
            let size = try value.size(for: key)
            guard size > 0, size <= max else { throw ConfigError("'\(key)' must be between 1 and \(max) bytes, got \(size)", at: value.location) }
            return size
        }

        mutating func positiveDuration(_ value: ConfigValue, _ key: String) throws(ConfigError) -> Double {
            var warning: ConfigWarning?
            let seconds = try value.duration(for: key) { warning = $0 }
            if let warning { warnings.append(warning) }
            guard seconds > 0 else { throw ConfigError("'\(key)' must be longer than zero", at: value.location) }
            return seconds
        }
    }
}
