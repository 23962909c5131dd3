import Auth
import NATSConfig
import Subjects

/// nats-server's `accounts { NAME: { users, default_permissions, jetstream, exports, imports } }`, read onto
/// ``AccountSettings`` (the users go to ``AuthConfiguration`` with their account's name). Keys and errors
/// after nats-server 2.9's `parseAccounts`.
extension ConfigFileOptions.Reading {
    static let unservedAccount: Set<String> = ["mappings", "maps", "limits", "nkey", "revocations", "mqtt"]

    mutating func accounts(_ value: ConfigValue) throws(ConfigError) {
        let map = try value.map(for: "accounts")
        for entry in map.entries where !entry.usedAsVariable {
            var settings = AccountSettings(name: entry.key)
            guard case .map(let body) = entry.value.kind else {
                throw ConfigError("Expected map entries for accounts, got \(entry.value.kindName)", at: entry.value.location)
            }
            var users: [AuthConfiguration.User] = [], nkeys: [AuthConfiguration.NKeyUser] = []
            var defaults: Permissions?
            for field in body.entries where !field.usedAsVariable {
                let key = field.key.lowercased()
                switch key {
                case "users": (users, nkeys) = try self.users(field.value)
                case "default_permissions": defaults = try permissions(field.value, key)
                case "jetstream": settings.jetStream = try accountJetStream(field.value)
                case "exports": settings.exports = try exports(field.value)
                case "imports": settings.imports = try imports(field.value)
                default:
                    guard Self.unservedAccount.contains(key) else {
                        throw ConfigError("Unknown field \"\(field.key)\" parsing account \"\(entry.key)\"", at: field.keyLocation)
                    }
                    warnings.append(ConfigWarning("'accounts { \(entry.key) { \(field.key) } }' is a nats-server option strata does not serve yet: ignored",
                                                  at: field.keyLocation))
                }
            }
            configuration.auth.users += users.map { user in
                var user = user
                user.account = entry.key
                if user.permissions == nil { user.permissions = defaults }
                return user
            }
            configuration.auth.nkeys += nkeys.map { user in
                var user = user
                user.account = entry.key
                if user.permissions == nil { user.permissions = defaults }
                return user
            }
            configuration.accounts.append(settings)
        }
        if let problem = AccountSettings.validate(configuration.accounts) { throw ConfigError(problem, at: value.location) }
    }

    /// `enabled` / `disabled`, a boolean, or `{ max_mem, max_file, max_streams, max_consumers }`.
    mutating func accountJetStream(_ value: ConfigValue) throws(ConfigError) -> AccountSettings.JetStreamLimits? {
        switch value.kind {
        case .bool(let on): return on ? AccountSettings.JetStreamLimits() : nil
        case .string(let text):
            switch text.lowercased() {
            case "enabled", "enable": return AccountSettings.JetStreamLimits()
            case "disabled", "disable": return nil
            default: throw ConfigError("Expected 'enabled' or 'disabled' for string value, got '\(text)'", at: value.location)
            }
        case .map(let map):
            var limits = AccountSettings.JetStreamLimits()
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased()
                switch key {
                case "max_memory", "max_mem", "mem", "memory": limits.maxMemory = try entry.value.size(for: key)
                case "max_store", "max_file", "max_disk", "store", "disk": limits.maxFile = try entry.value.size(for: key)
                case "max_streams", "streams": limits.maxStreams = Int(try entry.value.integer(for: key, in: -1...Int64(Int32.max)))
                case "max_consumers", "consumers": limits.maxConsumers = Int(try entry.value.integer(for: key, in: -1...Int64(Int32.max)))
                case "max_bytes_required", "max_stream_bytes", "max_ack_pending", "mem_max_stream_bytes", "disk_max_stream_bytes":
                    warnings.append(ConfigWarning("'jetstream { \(entry.key) }' of an account is not served yet: ignored", at: entry.keyLocation))
                default: throw ConfigError("Unknown field \"\(entry.key)\" parsing jetstream for account", at: entry.keyLocation)
                }
            }
            return limits
        default:
            throw ConfigError("Expected map, bool or string to define JetStream, got \(value.kindName)", at: value.location)
        }
    }

    func exports(_ value: ConfigValue) throws(ConfigError) -> [AccountSettings.Export] {
        var exports: [AccountSettings.Export] = []
        for item in try value.array(for: "exports") {
            let map = try item.map(for: "exports")
            var kind: AccountSettings.Kind?, subject = "", accounts: [String]?
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased()
                switch key {
                case "stream", "service":
                    guard kind == nil else { throw ConfigError("Detected stream and service in the same export", at: entry.keyLocation) }
                    kind = key == "stream" ? .stream : .service
                    subject = try entry.value.string(for: key)
                case "accounts": accounts = try entry.value.array(for: key).map { (v) throws(ConfigError) in try v.string(for: key) }
                case "response", "response_type", "threshold", "response_threshold", "latency", "account_token_position",
                     "allow_trace":
                    break  // (a singleton reply is what is served; the others are read and not enforced)
                default: throw ConfigError("Unknown field \"\(entry.key)\" parsing export", at: entry.keyLocation)
                }
            }
            guard let kind else { throw ConfigError("Export needs a stream or a service subject", at: item.location) }
            guard Subject.isValidFilter(subject) else { throw ConfigError("export subject \"\(subject)\" is not valid", at: item.location) }
            exports.append(.init(kind: kind, subject: subject, accounts: accounts))
        }
        return exports
    }

    func imports(_ value: ConfigValue) throws(ConfigError) -> [AccountSettings.Import] {
        var imports: [AccountSettings.Import] = []
        for item in try value.array(for: "imports") {
            let map = try item.map(for: "imports")
            var kind: AccountSettings.Kind?, account = "", subject = "", prefix: String?, to: String?
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased()
                switch key {
                case "stream", "service":
                    guard kind == nil else { throw ConfigError("Detected stream and service in the same import", at: entry.keyLocation) }
                    kind = key == "stream" ? .stream : .service
                    let source = try entry.value.map(for: key)
                    for field in source.entries where !field.usedAsVariable {
                        switch field.key.lowercased() {
                        case "account": account = try field.value.string(for: "account")
                        case "subject": subject = try field.value.string(for: "subject")
                        default: throw ConfigError("Unknown field \"\(field.key)\" parsing import", at: field.keyLocation)
                        }
                    }
                case "prefix": prefix = try entry.value.string(for: key)
                case "to": to = try entry.value.string(for: key)
                case "share", "allow_trace": break
                default: throw ConfigError("Unknown field \"\(entry.key)\" parsing import", at: entry.keyLocation)
                }
            }
            guard let kind, !account.isEmpty, Subject.isValidFilter(subject) else {
                throw ConfigError("Import needs a stream or a service with an account and a valid subject", at: item.location)
            }
            if kind == .service, let to, Subject.hasWildcard(to) != Subject.hasWildcard(subject) {
                throw ConfigError("service import 'to' \"\(to)\" must have the wildcards of its subject \"\(subject)\"", at: item.location)
            }
            imports.append(.init(kind: kind, account: account, subject: subject, prefix: prefix, to: to))
        }
        return imports
    }
}
