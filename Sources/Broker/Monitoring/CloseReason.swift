/// Why a connection ended, in nats-server's words (`/connz?state=closed` `reason`).
enum CloseReason: String, Sendable {
    case clientClosed = "Client Closed"
    case authenticationTimeout = "Authentication Timeout"
    case authenticationFailure = "Authentication Failure"
    case tlsHandshakeFailure = "TLS Handshake Failure"
    case slowConsumerPendingBytes = "Slow Consumer (Pending Bytes)"
    case slowConsumerWriteDeadline = "Slow Consumer (Write Deadline)"
    case readError = "Read Error"
    case parseError = "Parse Error"
    case staleConnection = "Stale Connection"
    case protocolViolation = "Protocol Violation"
    case maxConnectionsExceeded = "Maximum Connections Exceeded"
    case maxPayloadExceeded = "Maximum Message Payload Exceeded"
    case maxControlLineExceeded = "Maximum Control Line Exceeded"
    case serverShutdown = "Server Shutdown"
    case headerViolation = "Message Header Violation"
    case noRespondersRequiresHeaders = "No Responders Requires Headers"
}
