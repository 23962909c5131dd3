#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// An acknowledgement body (`+ACK`, `-NAK [{"delay":ns}]`, `+WPI`, `+TERM`).
public enum AckKind: Equatable, Sendable {
    case ack
    case nak(delay: Int64?)
    case inProgress
    case term

    /// Parses an ack body; an empty body is `+ACK`; `+NXT` acks (the owner then serves the next request).
    /// Nil for anything else.
    public static func parse(_ body: String) -> AckKind? {
        let text = body.trimmingWhitespace(newlines: true)
        if text.isEmpty || text == "+ACK" || text == "+NXT" || text.hasPrefix("+NXT ") { return .ack }
        if text == "+WPI" { return .inProgress }
        if text == "+TERM" || text.hasPrefix("+TERM ") { return .term }
        if text == "-NAK" { return .nak(delay: nil) }
        if text.hasPrefix("-NAK ") {
            struct Delay: Decodable { var delay: Int64? }
            let json = text.dropFirst(5).trimmingWhitespace()
            // (try?: client input: a NAK body without a valid delay is a plain NAK, as the reference)
            return .nak(delay: (try? JSONDecoder().decode(Delay.self, from: Data(json.utf8)))?.delay)
        }
        return nil
    }
}
