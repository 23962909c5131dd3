/// A protocol violation, with what the reference server (nats-server 2.9.10) sends and whether it then
/// closes the connection.
public enum ProtocolError: Error, Equatable, Sendable {
    /// An unknown verb, or bytes where CRLF was due after a payload.
    case unknownOperation
    /// A control line over the maximum (default 4096 bytes).
    case maximumControlLineExceeded
    /// A payload over max_payload.
    case maximumPayloadViolation
    /// Arguments that do not parse (wrong count, non-numeric sizes): the reference closes without a message.
    case malformedArguments(String)

    /// The `-ERR` text the reference sends, or nil when it closes silently.
    public var errorText: String? {
        switch self {
        case .unknownOperation: "Unknown Protocol Operation"
        case .maximumControlLineExceeded: "maximum control line exceeded"
        case .maximumPayloadViolation: "Maximum Payload Violation"
        case .malformedArguments: nil
        }
    }
}
