/// Typed readings of a value, as nats-server's option parser makes them. Each throws a ``ConfigError`` at
/// the value's location naming what was expected.
extension ConfigValue {
    public func string(for key: String) throws(ConfigError) -> String {
        switch kind {
        case .string(let text): return text
        case .integer(let n): return String(n)  // (a bare number where a name is expected, e.g. a token)
        default: throw ConfigError("'\(key)' expects a string, got \(kindName)", at: location)
        }
    }

    public func bool(for key: String) throws(ConfigError) -> Bool {
        guard case .bool(let value) = kind else { throw ConfigError("'\(key)' expects a boolean, got \(kindName)", at: location) }
        return value
    }

    public func integer(for key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(ConfigError) -> Int64 {
        guard case .integer(let value) = kind else { throw ConfigError("'\(key)' expects an integer, got \(kindName)", at: location) }
        guard range.contains(value) else {
            throw ConfigError("'\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(value)", at: location)
        }
        return value
    }

    /// A size in bytes: an integer (`1024`, `64MB` written bare) or a string with a size suffix (`"64MB"`).
    public func size(for key: String) throws(ConfigError) -> Int64 {
        switch kind {
        case .integer(let value):
            guard value >= -1 else { throw ConfigError("'\(key)' cannot be negative, got \(value)", at: location) }
            return value
        case .string(let text):
            guard let parsed = try? ConfigReader.interpret(text, at: location), case .integer(let value) = parsed.kind, value >= 0 else {
                throw ConfigError("'\(key)' expects a size such as 1024, 64KB, 64MB or 1GB, got '\(text)'", at: location)
            }
            return value
        default:
            throw ConfigError("'\(key)' expects a size, got \(kindName)", at: location)
        }
    }

    /// A duration in seconds: a string in Go's form (`"2m"`, `30s`, `1h30m`, `500ms`), or an integer number of
    /// seconds (which nats-server accepts with a warning; `warn` is told).
    public func duration(for key: String, warn: (ConfigWarning) -> Void = { _ in }) throws(ConfigError) -> Double {
        switch kind {
        case .string(let text):
            guard let seconds = GoDuration.seconds(text) else {
                throw ConfigError("'\(key)' expects a duration such as \"30s\", \"2m\" or \"1h30m\", got '\(text)'", at: location)
            }
            return seconds
        case .integer(let value):
            guard value >= 0 else { throw ConfigError("'\(key)' cannot be negative, got \(value)", at: location) }
            warn(ConfigWarning("'\(key)' given as a number is read as \(value) seconds; write a duration such as \"\(value)s\"", at: location))
            return Double(value)
        case .float(let value) where value >= 0:
            return value
        default:
            throw ConfigError("'\(key)' expects a duration, got \(kindName)", at: location)
        }
    }

    /// The entries of a block.
    public func map(for key: String) throws(ConfigError) -> ConfigMap {
        guard case .map(let map) = kind else { throw ConfigError("'\(key)' expects a block { }, got \(kindName)", at: location) }
        return map
    }

    public func array(for key: String) throws(ConfigError) -> [ConfigValue] {
        guard case .array(let values) = kind else { throw ConfigError("'\(key)' expects an array [ ], got \(kindName)", at: location) }
        return values
    }
}
