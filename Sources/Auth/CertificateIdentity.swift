/// What a verified client certificate says about who the client is, for `verify_and_map`: its subject
/// alternative names (e-mail addresses, then DNS names, then URIs, the order nats-server tries them) and
/// its subject's distinguished name.
public struct CertificateIdentity: Sendable, Equatable {
    public var names: [String]
    /// The subject as attribute pairs (`CN=alice`, `O=Acme`), in any order.
    public var subject: DistinguishedName?

    public init(names: [String], subject: DistinguishedName?) {
        self.names = names
        self.subject = subject
    }
}

/// A distinguished name as a multiset of `TYPE=value` attributes: two names are equal when they hold the
/// same attributes in any order (nats-server accepts a reordered DN too). Types compare case-insensitively.
public struct DistinguishedName: Sendable, Equatable {
    public let attributes: [String]

    /// Parses the RFC 4514 form (`CN=alice,OU=eng,O=Acme`); nil when `text` has no `=`.
    public init?(_ text: String) {
        var parts: [String] = [], current = "", escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            switch character {
            case "\\": escaped = true; current.append(character)
            case ",", "+", ";": parts.append(current); current = ""
            default: current.append(character)
            }
        }
        parts.append(current)
        var attributes: [String] = []
        for part in parts {
            let trimmed = part.trimmingSpaces()
            guard let equals = trimmed.firstIndex(of: "="), equals != trimmed.startIndex else { return nil }
            let type = trimmed[..<equals].trimmingSpacesSubstring().uppercased()
            let value = trimmed[trimmed.index(after: equals)...].trimmingSpacesSubstring()
            attributes.append("\(type)=\(value)")
        }
        self.attributes = attributes.sorted()
    }
}

extension Substring {
    func trimmingSpacesSubstring() -> String { String(self).trimmingSpaces() }
}
