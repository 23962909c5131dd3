/// One value of a config file, with where it was written.
///
/// The kinds are nats-server's: strings (quoted or bare), integers (sizes such as `64MB` are integers,
/// already multiplied out, as nats-server's parser does), floats, booleans (`true`/`false`, `yes`/`no`,
/// `on`/`off`), arrays and maps. `text` keeps what was written for a bare word or number, so a reader can
/// tell `30s` (a duration, a string) from `30` (an integer).
public struct ConfigValue: Equatable, Sendable {
    public indirect enum Kind: Equatable, Sendable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case bool(Bool)
        case array([ConfigValue])
        case map(ConfigMap)
    }

    public var kind: Kind
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    /// A name for the kind, for error messages (`expected a number, got a map`).
    public var kindName: String {
        switch kind {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .map: return "a map"
        }
    }
}

/// The entries of a config block `{ }` (or of the whole file), in the order written. Assigning a key again
/// replaces the earlier value (as in nats-server), at the earlier position.
///
/// Keys keep their spelling; ``subscript(_:)`` finds them ignoring case, as nats-server matches option names.
public struct ConfigMap: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: ConfigValue
        /// The entry was referred to as a variable (`$key`) later in the file: a definition, not an option.
        public var usedAsVariable: Bool
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    /// The value under `key`, ignoring case.
    public subscript(_ key: String) -> ConfigValue? { entry(key)?.value }

    public func entry(_ key: String) -> Entry? {
        let lowered = key.lowercased()
        return entries.last { $0.key.lowercased() == lowered }
    }

    /// Sets `key` (an exact-spelling match replaces the earlier entry).
    public mutating func set(_ key: String, at keyLocation: SourceLocation, to value: ConfigValue) {
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = value
            entries[index].keyLocation = keyLocation
        } else {
            entries.append(Entry(key: key, keyLocation: keyLocation, value: value, usedAsVariable: false))
        }
    }

    /// Marks `key` as read through a variable reference.
    mutating func markUsed(_ key: String) {
        if let index = entries.firstIndex(where: { $0.key == key }) { entries[index].usedAsVariable = true }
    }

    /// Looks a variable up in this map only (exact spelling).
    func variable(_ name: String) -> ConfigValue? { entries.first { $0.key == name }?.value }
}
