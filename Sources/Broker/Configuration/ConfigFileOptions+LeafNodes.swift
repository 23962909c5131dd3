import Auth
import NATSConfig
import Subjects

/// nats-server's `leafnodes { remotes = [ … ], reconnect, listen, … }`, read onto ``LeafNodeSettings``.
/// Keys after nats-server 2.9's `parseLeafNodes` and `parseRemoteLeafNodes`.
extension ConfigFileOptions.Reading {
    static let unservedLeafNodes: Set<String> = [
        "leafnode_advertise", "advertise", "no_advertise", "min_version", "minimum_version",
    ]
    static let unservedRemote: Set<String> = [
        "hub", "ws_compress", "ws_compression", "websocket_compress", "websocket_compression", "ws_no_masking",
        "websocket_no_masking", "jetstream_cluster_migrate", "js_cluster_migrate",
    ]

    mutating func leafNodes(_ value: ConfigValue) throws(ConfigError) {
        let map = try value.map(for: "leafnodes")
        var settings = LeafNodeSettings()
        var host: String?, port: Int?
        for entry in map.entries where !entry.usedAsVariable {
            let key = entry.key.lowercased(), value = entry.value
            switch key {
            case "remotes":
                for item in try value.array(for: key) { settings.remotes.append(try remote(item)) }
            case "reconnect", "reconnect_delay", "reconnect_interval":
                // nats-server 2.9.10 reads a whole number of seconds here (no duration string): no warning for it.
                if case .integer = value.kind {
                    settings.reconnectInterval = Double(try value.integer(for: key, in: 1...86_400))
                } else {
                    settings.reconnectInterval = try positiveDuration(value, key)
                }
            case "listen":
                if case .integer = value.kind {
                    port = Int(try value.integer(for: key, in: 0...65535))
                } else {
                    let text = try value.string(for: key)
                    guard let colon = text.lastIndex(of: ":"), let number = Int(text[text.index(after: colon)...]), (0...65535).contains(number) else {
                        throw ConfigError("'leafnodes { listen }' expects host:port, got '\(text)'", at: value.location)
                    }
                    var name = String(text[..<colon])
                    if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
                    if !name.isEmpty { host = name }
                    port = number
                }
            case "host", "net": host = try value.string(for: key)
            case "port": port = Int(try value.integer(for: key, in: 0...65535))
            case "authorization": settings.authorization = try leafAuthorization(value)
            case "tls": settings.tls = try tlsSettings(value)
            default: try unserved(entry, known: ConfigFileOptions.Reading.unservedLeafNodes, within: "leafnodes")
            }
        }
        if host != nil || port != nil { settings.listen = (host ?? "0.0.0.0", port ?? 7422) }
        configuration.leafNodes = settings
    }

    /// `authorization { user, password, account, timeout }` or `{ users: [ { user, password, account } ] }`.
    private mutating func leafAuthorization(_ value: ConfigValue) throws(ConfigError) -> LeafAuthorization {
        let map = try value.map(for: "authorization")
        var authorization = LeafAuthorization()
        var user: String?, password: String?, account: String?
        for entry in map.entries where !entry.usedAsVariable {
            let key = entry.key.lowercased(), value = entry.value
            switch key {
            case "user", "username": user = try value.string(for: key)
            case "pass", "password": password = try value.string(for: key)
            case "account": account = try value.string(for: key)
            case "timeout": authorization.timeout = try positiveDuration(value, key)
            case "users":
                for item in try value.array(for: key) {
                    let fields = try item.map(for: key)
                    var name: String?, secret = "", bound = AuthConfiguration.globalAccount
                    for field in fields.entries where !field.usedAsVariable {
                        switch field.key.lowercased() {
                        case "user", "username": name = try field.value.string(for: field.key)
                        case "pass", "password": secret = try field.value.string(for: field.key)
                        case "account": bound = try field.value.string(for: field.key)
                        default: throw ConfigError("unknown field \"\(field.key)\" in a leafnode user", at: field.keyLocation)
                        }
                    }
                    guard let name, !name.isEmpty else { throw ConfigError("a leafnode user needs a 'user'", at: item.location) }
                    authorization.users.append(AuthConfiguration.User(name: name, password: secret, account: bound))
                }
            default: throw ConfigError("unknown field \"\(entry.key)\" in leafnodes authorization", at: entry.keyLocation)
            }
        }
        if let user {
            authorization.users.insert(AuthConfiguration.User(name: user, password: password ?? "", account: account ?? AuthConfiguration.globalAccount), at: 0)
        }
        return authorization
    }

    private mutating func remote(_ value: ConfigValue) throws(ConfigError) -> LeafRemote {
        let map = try value.map(for: "remotes")
        var remote = LeafRemote(urls: [])
        for entry in map.entries where !entry.usedAsVariable {
            let key = entry.key.lowercased(), value = entry.value
            switch key {
            case "url", "urls":
                let texts: [ConfigValue]
                if case .array(let items) = value.kind { texts = items } else { texts = [value] }
                for item in texts {
                    let text = try item.string(for: key)
                    guard let url = LeafURL(parsing: text) else {
                        throw ConfigError("Error parsing remote leafnode URL '\(text)': expected nats-leaf://host:port", at: item.location)
                    }
                    remote.urls.append(url)
                }
            case "account", "local": remote.account = try value.string(for: key)
            case "creds", "credentials": remote.credentials = try value.string(for: key)
            case "deny_imports", "deny_import": remote.denyImports = try subjects(value, key)
            case "deny_exports", "deny_export": remote.denyExports = try subjects(value, key)
            case "no_randomize", "dont_randomize": remote.noRandomize = try value.bool(for: key)
            case "tls": remote.tls = try remoteTLS(value)
            default:
                guard ConfigFileOptions.Reading.unservedRemote.contains(key) else {
                    throw ConfigError("unknown field \"\(entry.key)\"", at: entry.keyLocation)
                }
                warnings.append(ConfigWarning("'leafnodes { remotes [ { \(entry.key) } ] }' is a nats-server option strata does not serve yet: ignored",
                                              at: entry.keyLocation))
            }
        }
        guard !remote.urls.isEmpty else { throw ConfigError("a leafnode remote needs at least one URL ('url' or 'urls')", at: value.location) }
        return remote
    }

    /// A subject or a list of subjects (each a valid filter).
    private func subjects(_ value: ConfigValue, _ key: String) throws(ConfigError) -> [String] {
        let items: [ConfigValue]
        if case .array(let list) = value.kind { items = list } else { items = [value] }
        var result: [String] = []
        for item in items {
            let subject = try item.string(for: key)
            guard Subject.isValidFilter(subject) else { throw ConfigError("'\(key)': invalid subject '\(subject)'", at: item.location) }
            result.append(subject)
        }
        return result
    }
}
