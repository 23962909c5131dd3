import Auth
import NATSConfig
import Subjects

/// nats-server's `authorization` block (token, user and password, `users` with passwords or NKeys and
/// permissions, `default_permissions`, `timeout`) and `no_auth_user`, read onto an ``AuthConfiguration``.
/// Keys and errors as nats-server 2.9's `parseAuthorization`, `parseUsers` and `parseUserPermissions`.
extension ConfigFileOptions.Reading {
    mutating func authorization(_ map: ConfigMap) throws(ConfigError) {
        var auth = configuration.auth
        for entry in map.entries where !entry.usedAsVariable {
            let key = entry.key.lowercased(), value = entry.value
            switch key {
            case "token": auth.token = try value.string(for: key)
            case "user", "username": auth.user = try value.string(for: key)
            case "pass", "password": auth.password = try value.string(for: key)
            case "timeout": auth.timeout = try seconds(value, key)
            case "users":  // (appended: the users of `accounts { }` may have been read first)
                let (listed, nkeys) = try users(value)
                auth.users += listed
                auth.nkeys += nkeys
            case "default_permission", "default_permissions", "permissions": auth.defaultPermissions = try permissions(value, key)
            default: throw ConfigError("unknown field \"\(entry.key)\"", at: entry.keyLocation)
            }
        }
        configuration.auth = auth
    }

    /// `users = [ { user, password, permissions } | { nkey, permissions } ]`.
    func users(_ value: ConfigValue) throws(ConfigError) -> ([AuthConfiguration.User], [AuthConfiguration.NKeyUser]) {
        guard case .array(let entries) = value.kind else {
            throw ConfigError("Expected users field to be an array, got \(value.kindName)", at: value.location)
        }
        var users: [AuthConfiguration.User] = [], nkeys: [AuthConfiguration.NKeyUser] = []
        for item in entries {
            guard case .map(let map) = item.kind else {
                throw ConfigError("Expected user entry to be a map/struct, got \(item.kindName)", at: item.location)
            }
            var name: String?, password: String?, nkey: String?, permissions: Permissions?, types: Set<String>?
            for entry in map.entries where !entry.usedAsVariable {
                let key = entry.key.lowercased()
                switch key {
                case "nkey": nkey = try entry.value.string(for: key)
                case "user", "username": name = try entry.value.string(for: key)
                case "pass", "password": password = try entry.value.string(for: key)
                case "permission", "permissions", "authorization": permissions = try self.permissions(entry.value, key)
                case "allowed_connection_types", "connection_types", "clients":
                    // Every client here is a plain NATS client (STANDARD); the list may only name kinds nats-server knows.
                    var listed = Set<String>()
                    for kind in try entry.value.array(for: key) {
                        let text = try kind.string(for: key).uppercased()
                        guard ["STANDARD", "WEBSOCKET", "LEAFNODE", "MQTT"].contains(text) else {
                            throw ConfigError("invalid connection types [\"\(text)\"]", at: kind.location)
                        }
                        listed.insert(text)
                    }
                    types = listed
                default: throw ConfigError("unknown field \"\(entry.key)\"", at: entry.keyLocation)
                }
            }
            if let nkey {
                guard NKeyPublicKey.isValid(nkey) else { throw ConfigError("Not a valid public nkey for a user", at: item.location) }
                guard name == nil && password == nil else {
                    throw ConfigError("Nkey users do not take usernames or passwords", at: item.location)
                }
                nkeys.append(.init(publicKey: nkey, permissions: permissions, connectionTypes: types))
            } else {
                guard let name, !name.isEmpty else { throw ConfigError("User entry requires a user", at: item.location) }
                users.append(.init(name: name, password: password ?? "", permissions: permissions, connectionTypes: types))
            }
        }
        return (users, nkeys)
    }

    /// `{ publish, subscribe, allow_responses }`; each side a subject, a list, or `{ allow, deny }`.
    func permissions(_ value: ConfigValue, _ key: String) throws(ConfigError) -> Permissions {
        guard case .map(let map) = value.kind else {
            throw ConfigError("Expected permissions to be a map/struct, got \(value.kindName)", at: value.location)
        }
        var publish: SubjectPermission?, subscribe: SubjectPermission?, responses: ResponsePermission?
        for entry in map.entries where !entry.usedAsVariable {
            switch entry.key.lowercased() {
            case "pub", "publish", "import": publish = try subjectPermission(entry.value)
            case "sub", "subscribe", "export": subscribe = try subjectPermission(entry.value)
            case "publish_allow_responses", "allow_responses": responses = try allowResponses(entry.value)
            default: throw ConfigError("Unknown field \"\(entry.key)\" parsing permissions", at: entry.keyLocation)
            }
        }
        return Permissions(publish: publish, subscribe: subscribe, responses: responses)
    }

    /// A subject or a list of subjects (allowed), or `{ allow, deny }`.
    func subjectPermission(_ value: ConfigValue) throws(ConfigError) -> SubjectPermission? {
        guard case .map(let map) = value.kind else { return SubjectPermission(allow: try permissionSubjects(value)) }
        if map.isEmpty { return nil }
        var permission = SubjectPermission()
        for entry in map.entries where !entry.usedAsVariable {
            switch entry.key.lowercased() {
            case "allow": permission.allow = try permissionSubjects(entry.value)
            case "deny": permission.deny = try permissionSubjects(entry.value)
            default:
                throw ConfigError("Unknown field name \"\(entry.key)\" parsing subject permissions, only 'allow' or 'deny' are permitted",
                                  at: entry.keyLocation)
            }
        }
        return permission
    }

    func permissionSubjects(_ value: ConfigValue) throws(ConfigError) -> [PermissionEntry] {
        let texts: [(String, SourceLocation)]
        switch value.kind {
        case .string(let text): texts = [(text, value.location)]
        case .array(let items):
            var collected: [(String, SourceLocation)] = []
            for item in items {
                guard case .string(let text) = item.kind else {
                    throw ConfigError("Subject in permissions array cannot be cast to string", at: item.location)
                }
                collected.append((text, item.location))
            }
            texts = collected
        default:
            throw ConfigError("Expected subject permissions to be a subject, or array of subjects, got \(value.kindName)", at: value.location)
        }
        var entries: [PermissionEntry] = []
        for (text, location) in texts {
            let entry = PermissionEntry(text)
            // As nats-server's checkPermSubjectArray: a valid subject, and a queue (if any) a valid one too.
            guard Subject.isValidFilter(entry.subject), entry.queue.map(Subject.isValidFilter) ?? true else {
                throw ConfigError("subject \"\(text)\" is not a valid subject", at: location)
            }
            entries.append(entry)
        }
        return entries
    }

    /// `allow_responses: true` (1 reply within 2 minutes) or `{ max, expires }`.
    func allowResponses(_ value: ConfigValue) throws(ConfigError) -> ResponsePermission? {
        if case .bool(let on) = value.kind { return on ? ResponsePermission() : nil }
        guard case .map(let map) = value.kind else {
            throw ConfigError("error parsing response permissions, expected a boolean or a map", at: value.location)
        }
        var permission = ResponsePermission()
        for entry in map.entries where !entry.usedAsVariable {
            switch entry.key.lowercased() {
            case "max", "max_msgs", "max_messages", "max_responses":
                let max = Int(try entry.value.integer(for: entry.key))
                if max != 0 { permission.maxMessages = max }  // (0: the default; negative: no limit)
            case "expires", "expiration", "ttl":
                guard case .string(let text) = entry.value.kind, let seconds = GoDuration.seconds(text) else {
                    throw ConfigError("error parsing expires, not a duration string", at: entry.value.location)
                }
                if seconds != 0 { permission.expires = seconds }
            default: throw ConfigError("Unknown field \"\(entry.key)\" parsing permissions", at: entry.keyLocation)
            }
        }
        return permission
    }

    /// Seconds as a number (integer or float), or a duration string.
    mutating func seconds(_ value: ConfigValue, _ key: String) throws(ConfigError) -> Double {
        switch value.kind {
        case .integer(let n) where n >= 0: return Double(n)
        case .float(let x) where x >= 0: return x
        case .string: return try value.duration(for: key)
        default: throw ConfigError("'\(key)' expects a number of seconds, got \(value.kindName)", at: value.location)
        }
    }
}
