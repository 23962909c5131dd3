/// A config file that cannot be used: what is wrong, and where. Its description is
/// `file:line:column: message`, so that a server refusing to start points at the place to fix.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ message: String, at location: SourceLocation) {
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): \(message)" }
}

/// Something in a config file that is accepted but not acted on (a key Strata does not serve yet, a
/// deprecated form). Servers log each one at start, so that nothing is ignored silently.
public struct ConfigWarning: Equatable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ message: String, at location: SourceLocation) {
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): \(message)" }
}
