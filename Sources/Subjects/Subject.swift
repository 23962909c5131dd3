/// Validation and wildcard matching of NATS subjects.
///
/// A subject is a non-empty string of tokens separated by `.`; a token is non-empty and holds no
/// whitespace. In a *filter* (subscriptions, stream subjects, consumer filters) a token may be the
/// wildcard `*` (exactly one token) or, as the last token only, `>` (one or more tokens). Subjects
/// that messages are published to hold no wildcard tokens.
public enum Subject {
    /// Why a subject or filter was rejected.
    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// The subject is empty.
        case empty
        /// A token is empty (leading, trailing or doubled `.`), at this token index.
        case emptyToken(index: Int)
        /// A character that is never allowed (space, tab, CR, LF, NUL).
        case forbiddenCharacter(UInt8)
        /// A wildcard in a subject that must be literal.
        case wildcardNotAllowed
        /// `>` anywhere but as the last token, or a wildcard character inside a longer token.
        case misplacedWildcard

        public var description: String {
            switch self {
            case .empty: "subject is empty"
            case .emptyToken(let i): "subject has an empty token at position \(i)"
            case .forbiddenCharacter(let c): "subject holds a forbidden character (0x\(String(c, radix: 16)))"
            case .wildcardNotAllowed: "subject may not hold wildcards"
            case .misplacedWildcard: "'>' must be the last token and wildcards must be whole tokens"
            }
        }
    }

    /// Checks that `subject` is a valid literal subject (no wildcards).
    public static func validateLiteral(_ subject: String) throws(Invalid) {
        try validate(subject, allowWildcards: false)
    }

    /// Checks that `filter` is a valid filter (wildcards allowed).
    public static func validateFilter(_ filter: String) throws(Invalid) {
        try validate(filter, allowWildcards: true)
    }

    public static func isValidLiteral(_ subject: String) -> Bool { (try? validateLiteral(subject)) != nil }
    public static func isValidFilter(_ filter: String) -> Bool { (try? validateFilter(filter)) != nil }

    /// True when `filter` holds a wildcard token.
    public static func hasWildcard(_ filter: String) -> Bool {
        let utf8 = filter.utf8
        return utf8.withContiguousStorageIfAvailable { hasWildcard(bytes: $0) } ?? {
            var copy = filter
            return copy.withUTF8 { hasWildcard(bytes: $0) }
        }()
    }

    static func hasWildcard(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var tokenStart = 0
        for i in 0...bytes.count {
            if i == bytes.count || bytes[i] == dot {
                if i - tokenStart == 1 && (bytes[tokenStart] == star || bytes[tokenStart] == greater) { return true }
                tokenStart = i + 1
            }
        }
        return false
    }

    private static let dot = UInt8(ascii: "."), star = UInt8(ascii: "*"), greater = UInt8(ascii: ">")

    private static func validate(_ subject: String, allowWildcards: Bool) throws(Invalid) {
        let bytes = Array(subject.utf8)
        if bytes.isEmpty { throw Invalid.empty }
        var tokenStart = 0
        var tokenIndex = 0
        for i in 0...bytes.count {
            let atEnd = i == bytes.count
            if atEnd || bytes[i] == dot {
                let length = i - tokenStart
                if length == 0 { throw Invalid.emptyToken(index: tokenIndex) }
                if length == 1 && (bytes[tokenStart] == star || bytes[tokenStart] == greater) {
                    if !allowWildcards { throw Invalid.wildcardNotAllowed }
                    if bytes[tokenStart] == greater && !atEnd { throw Invalid.misplacedWildcard }
                }
                tokenStart = i + 1
                tokenIndex += 1
                continue
            }
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D, 0x00: throw Invalid.forbiddenCharacter(bytes[i])
            default: break
            }
        }
    }

    /// True when the literal `subject` matches `filter` (which may hold `*` and `>`).
    public static func matches(_ subject: String, filter: String) -> Bool {
        if filter == ">" { return true }
        var s = subject, f = filter
        return s.withUTF8 { sb in f.withUTF8 { fb in matches(subject: sb, filter: fb) } }
    }

    /// Byte-level matcher: walks both token lists once, no allocation.
    public static func matches(subject: UnsafeBufferPointer<UInt8>, filter: UnsafeBufferPointer<UInt8>) -> Bool {
        var si = 0, fi = 0
        let sn = subject.count, fn = filter.count
        while true {
            // Find the end of the current filter token.
            var fe = fi
            while fe < fn && filter[fe] != dot { fe += 1 }
            let fLen = fe - fi
            if fLen == 1 && filter[fi] == greater { return si < sn }
            if si >= sn { return false }
            var se = si
            while se < sn && subject[se] != dot { se += 1 }
            if !(fLen == 1 && filter[fi] == star) {
                if fLen != se - si { return false }
                var k = 0
                while k < fLen { if filter[fi + k] != subject[si + k] { return false }; k += 1 }
            }
            let fDone = fe >= fn, sDone = se >= sn
            if fDone || sDone { return fDone && sDone }
            fi = fe + 1
            si = se + 1
        }
    }

    /// True when some literal subject could match both filters (used to reject overlapping stream
    /// subjects and work-queue consumer filters).
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        let at = a.subjectTokens()
        let bt = b.subjectTokens()
        var i = 0
        while i < at.count && i < bt.count {
            let x = at[i], y = bt[i]
            if x == ">" || y == ">" { return true }
            if x != "*" && y != "*" && !x.utf8.elementsEqual(y.utf8) { return false }
            i += 1
        }
        return at.count == bt.count
    }

    /// True when every subject matching `inner` also matches `outer`.
    public static func isSubset(_ inner: String, of outer: String) -> Bool {
        let it = inner.subjectTokens()
        let ot = outer.subjectTokens()
        var i = 0
        while i < ot.count {
            if ot[i] == ">" { return it.count > i }
            if i >= it.count { return false }
            if it[i] == ">" { return false }
            if ot[i] != "*" && (it[i] == "*" || !it[i].utf8.elementsEqual(ot[i].utf8)) { return false }
            i += 1
        }
        return it.count == ot.count
    }
}

extension String {
    /// The subject's tokens, split at every `.` byte (empty tokens kept). NATS subjects are bytes: `.` followed by
    /// a combining mark is one Character to Swift, so `split(separator: ".")` would not split there, but it is a
    /// separator to the wire protocol and to nats-server (and to ``SubjectTree``'s matching).
    public func subjectTokens() -> [Substring] {
        var tokens: [Substring] = []
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: ".") {
                tokens.append(Substring(utf8[start..<index]))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        tokens.append(Substring(utf8[start..<utf8.endIndex]))
        return tokens
    }
}
