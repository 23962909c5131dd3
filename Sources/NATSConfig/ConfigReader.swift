/// The recursive-descent reader behind ``ConfigParser``: one file's bytes, a position (line and column
/// kept as it moves), and the stack of blocks being filled, which variable references search.
struct ConfigReader {
    private let bytes: [UInt8]
    private let file: String
    private let parser: ConfigParser
    /// Normalised paths of the files being read, outermost first (an include of one of them is a loop).
    private let including: [String]
    private var index = 0
    private var line = 1
    private var column = 1
    /// The blocks being read, outermost first; the last one is filled now.
    private var scopes: [ConfigMap] = []
    /// Blocks and arrays open around the value being read (bounded: the reader recurses).
    private var depth = 0
    static let maxDepth = 64

    init(text: String, file: String, parser: ConfigParser, including: [String]) {
        self.bytes = Array(text.utf8)
        self.file = file
        self.parser = parser
        self.including = including
    }

    // MARK: Structure

    mutating func readFile() throws(ConfigError) -> ConfigMap {
        skipBlank()
        // The whole file may be one block (a JSON object).
        if peek() == UInt8(ascii: "{") {
            let open = location
            advance()
            let map = try readBlock(closedBy: UInt8(ascii: "}"), opened: open)
            skipBlank()
            if let byte = peek() { throw error("unexpected '\(Character(Unicode.Scalar(byte)))' after the closing '}'") }
            return map
        }
        return try readBlock(closedBy: nil, opened: location)
    }

    /// Reads entries into a new block until `close` (nil: the end of the file).
    private mutating func readBlock(closedBy close: UInt8?, opened: SourceLocation) throws(ConfigError) -> ConfigMap {
        scopes.append(ConfigMap())
        while true {
            skipBlank(separators: true)
            guard let byte = peek() else {
                if close != nil { throw ConfigError("unterminated block: the '{' at \(opened.line):\(opened.column) is never closed", at: location) }
                break
            }
            if byte == close { advance(); break }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                throw error("unexpected '\(Character(Unicode.Scalar(byte)))'")
            }
            try readEntry()
            // After a value: the rest of the line is blank or a comment, or another entry follows a separator.
            skipSpaces()
            if let next = peek(), !isNewline(next), next != UInt8(ascii: ","), next != UInt8(ascii: ";"), next != close,
               !atComment {
                throw error("expected a new line, ',' or ';' after a value, found '\(Character(Unicode.Scalar(next)))'")
            }
        }
        return scopes.removeLast()
    }

    private mutating func readEntry() throws(ConfigError) {
        let keyLocation = location
        let key = try readKey()
        if key == "include", let next = peek(), next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") {
            skipSpaces()
            if let next = peek(), next != UInt8(ascii: "="), next != UInt8(ascii: ":") {
                try readInclude(at: keyLocation)
                return
            }
        }
        skipSpaces()
        if let separator = peek(), separator == UInt8(ascii: "=") || separator == UInt8(ascii: ":") {
            advance()
            skipSpaces()
        }
        guard let byte = peek(), !isNewline(byte), !atComment, byte != UInt8(ascii: ","), byte != UInt8(ascii: ";"),
              byte != UInt8(ascii: "}") else {
            throw ConfigError("expected a value for '\(key)'", at: location)
        }
        let value = try readValue()
        scopes[scopes.count - 1].set(key, at: keyLocation, to: value)
    }

    private mutating func readKey() throws(ConfigError) -> String {
        if let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
            let start = location
            advance()
            let text = try readQuoted(quote, opened: start)
            guard !text.isEmpty else { throw ConfigError("a key cannot be empty", at: start) }
            return text
        }
        let start = index
        while let byte = peek(), !isSpace(byte), !isNewline(byte), byte != UInt8(ascii: "="), byte != UInt8(ascii: ":"),
              byte != UInt8(ascii: "{"), byte != UInt8(ascii: "["), byte != UInt8(ascii: ","), byte != UInt8(ascii: ";") {
            advance()
        }
        guard index > start else { throw error("expected a key") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func readInclude(at location: SourceLocation) throws(ConfigError) {
        let pathValue = try readValue()
        guard case .string(let name) = pathValue.kind, !name.isEmpty else {
            throw ConfigError("include needs a file name, got \(pathValue.kindName)", at: pathValue.location)
        }
        let normalized = ConfigParser.normalized(name.hasPrefix("/") ? name : ConfigParser.directory(of: file) + name)
        if including.contains(normalized) {
            throw ConfigError("include loop: '\(name)' is already being read (\((including + [normalized]).joined(separator: " -> ")))",
                              at: pathValue.location)
        }
        let text: String
        do { text = try parser.readFile(normalized) } catch {
            throw ConfigError("cannot read included file '\(name)': \(error)", at: pathValue.location)
        }
        let included = try parser.parse(text, file: normalized, including: including + [normalized])
        for entry in included.entries {
            scopes[scopes.count - 1].set(entry.key, at: entry.keyLocation, to: entry.value)
        }
    }

    // MARK: Values

    private mutating func readValue() throws(ConfigError) -> ConfigValue {
        let start = location
        guard let byte = peek() else { throw error("expected a value") }
        if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            guard depth < Self.maxDepth else {
                throw ConfigError("blocks and arrays are nested more than \(Self.maxDepth) deep", at: start)
            }
            depth += 1
        }
        defer { if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth -= 1 } }
        switch byte {
        case UInt8(ascii: "{"):
            advance()
            return ConfigValue(.map(try readBlock(closedBy: UInt8(ascii: "}"), opened: start)), at: start)
        case UInt8(ascii: "["):
            advance()
            return ConfigValue(.array(try readArray(opened: start)), at: start)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            advance()
            return ConfigValue(.string(try readQuoted(byte, opened: start)), at: start)
        case UInt8(ascii: "("):
            advance()
            return ConfigValue(.string(try readParenthesised(opened: start)), at: start)
        default:
            return try readBare()
        }
    }

    private mutating func readArray(opened: SourceLocation) throws(ConfigError) -> [ConfigValue] {
        var values: [ConfigValue] = []
        while true {
            skipBlank(separators: false)
            guard let byte = peek() else {
                throw ConfigError("unterminated array: the '[' at \(opened.line):\(opened.column) is never closed", at: location)
            }
            if byte == UInt8(ascii: "]") { advance(); return values }
            if byte == UInt8(ascii: ",") {
                guard !values.isEmpty else { throw error("expected a value before ','") }
                advance()
                continue
            }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: ";") { throw error("unexpected '\(Character(Unicode.Scalar(byte)))' in an array") }
            values.append(try readValue())
            skipSpaces()
            if let next = peek(), !isNewline(next), next != UInt8(ascii: ","), next != UInt8(ascii: "]"), !atComment {
                throw error("expected ',' or ']' after an array value, found '\(Character(Unicode.Scalar(next)))'")
            }
        }
    }

    private mutating func readQuoted(_ quote: UInt8, opened: SourceLocation) throws(ConfigError) -> String {
        var out: [UInt8] = []
        while true {
            guard let byte = peek(), !isNewline(byte) else {
                throw ConfigError("unterminated string: the quote at \(opened.line):\(opened.column) is never closed", at: location)
            }
            let escapeLocation = location
            advance()
            if byte == quote { return String(decoding: out, as: UTF8.self) }
            guard byte == UInt8(ascii: "\\"), quote == UInt8(ascii: "\"") else { out.append(byte); continue }
            guard let escaped = peek() else { continue }
            advance()
            switch escaped {
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "\""): out.append(34)
            case UInt8(ascii: "\\"): out.append(92)
            case UInt8(ascii: "x"):
                var value: UInt8 = 0
                for _ in 0..<2 {
                    guard let digit = peek(), let nibble = Self.hexValue(digit) else {
                        throw ConfigError("expected two hexadecimal digits after '\\x'", at: location)
                    }
                    advance()
                    value = value << 4 | nibble
                }
                out.append(value)
            default:
                throw ConfigError("invalid escape '\\\(Character(Unicode.Scalar(escaped)))': only \\xHH, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                                  at: escapeLocation)
            }
        }
    }

    /// `( … )`: the text of the lines up to one holding only `)` (nats-server's block string).
    private mutating func readParenthesised(opened: SourceLocation) throws(ConfigError) -> String {
        var lines: [String] = []
        var first = true
        while index < bytes.count {
            var end = index
            while end < bytes.count, !isNewline(bytes[end]) { end += 1 }
            let text = bytes[index..<end].filter { $0 != 13 }
            if !first, text.filter({ !isSpace($0) }) == [UInt8(ascii: ")")] {
                while index < end { advance() }  // the ')' line's new line ends the entry
                return lines.joined(separator: "\n")
            }
            if !first || !text.allSatisfy(isSpace) { lines.append(String(decoding: text, as: UTF8.self)) }
            first = false
            while index < end { advance() }
            if index < bytes.count { advance() }
        }
        throw ConfigError("unterminated '(' block: it needs a ')' alone on a line", at: opened)
    }

    private mutating func readBare() throws(ConfigError) -> ConfigValue {
        let start = location
        let from = index
        while let byte = peek(), !isSpace(byte), !isNewline(byte), byte != UInt8(ascii: ","), byte != UInt8(ascii: ";"),
              byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]") {
            advance()
        }
        let word = String(decoding: bytes[from..<index], as: UTF8.self)
        guard !word.isEmpty else { throw ConfigError("expected a value", at: start) }
        if word.hasPrefix("$") { return try resolve(variable: String(word.dropFirst()), at: start) }
        return try ConfigReader.interpret(word, at: start)
    }

    /// A bare word as nats-server reads it: boolean, integer (with a size suffix), float, else a string.
    static func interpret(_ word: String, at location: SourceLocation) throws(ConfigError) -> ConfigValue {
        switch word.lowercased() {
        case "true", "yes", "on": return ConfigValue(.bool(true), at: location)
        case "false", "no", "off": return ConfigValue(.bool(false), at: location)
        default: break
        }
        let utf8 = Array(word.utf8)
        let negative = utf8.first == UInt8(ascii: "-")
        let digitsStart = negative ? 1 : 0
        var digitsEnd = digitsStart
        while digitsEnd < utf8.count, (48...57).contains(utf8[digitsEnd]) { digitsEnd += 1 }
        guard digitsEnd > digitsStart else { return ConfigValue(.string(word), at: location) }
        let digits = String(decoding: utf8[0..<digitsEnd], as: UTF8.self)
        let rest = String(decoding: utf8[digitsEnd...], as: UTF8.self)
        if rest.isEmpty {
            guard let number = Int64(digits) else { throw ConfigError("integer '\(word)' is out of range", at: location) }
            return ConfigValue(.integer(number), at: location)
        }
        if let multiplier = sizeMultiplier(rest.lowercased()) {
            guard let number = Int64(digits) else { throw ConfigError("integer '\(word)' is out of range", at: location) }
            let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
            guard !overflow else { throw ConfigError("size '\(word)' is out of range", at: location) }
            return ConfigValue(.integer(product), at: location)
        }
        // A float is digits '.' digits (with an optional exponent); anything else (an address, a duration) is a string.
        if rest.first == ".", rest.dropFirst().first?.isNumber == true, let number = Double(word),
           word.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "e" || $0 == "E" || $0 == "+" }),
           word.filter({ $0 == "." }).count == 1 {
            return ConfigValue(.float(number), at: location)
        }
        return ConfigValue(.string(word), at: location)
    }

    /// The multiplier of a size suffix (nats-server's: decimal for one letter, binary with `b`, `i` or `ib`).
    static func sizeMultiplier(_ suffix: String) -> Int64? {
        let letters: [Character: Int] = ["k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6]
        guard let first = suffix.first, let power = letters[first] else { return nil }
        let tail = suffix.dropFirst()
        let base: Int64
        switch tail {
        case "": base = 1000
        case "b", "i", "ib": base = 1024
        default: return nil
        }
        var value: Int64 = 1
        for _ in 0..<power { value *= base }
        return value
    }

    private mutating func resolve(variable name: String, at location: SourceLocation) throws(ConfigError) -> ConfigValue {
        if name.hasPrefix("2a$") || name.hasPrefix("2b$") || name.hasPrefix("2y$") {
            return ConfigValue(.string("$" + name), at: location)  // a bcrypt hash, not a reference
        }
        guard !name.isEmpty else { throw ConfigError("'$' needs a variable name", at: location) }
        for depth in stride(from: scopes.count - 1, through: 0, by: -1) {
            if var value = scopes[depth].variable(name) {
                scopes[depth].markUsed(name)
                value.location = location
                return value
            }
        }
        guard let text = parser.environment[name] else {
            throw ConfigError("variable '$\(name)' is not defined in an enclosing block nor in the environment", at: location)
        }
        guard !parser.resolving.contains(name) else {
            throw ConfigError("environment variable '$\(name)' refers to itself", at: location)
        }
        // An environment variable is read as a value of this format (a number stays a number).
        var inner = parser
        inner.resolving.insert(name)
        let parsed: ConfigMap
        do { parsed = try inner.parse("value: \(text)", file: "$\(name)") } catch {
            throw ConfigError("environment variable '$\(name)' is not a valid value: \(error.message)", at: location)
        }
        guard var value = parsed["value"] else { throw ConfigError("environment variable '$\(name)' is empty", at: location) }
        value.location = location
        return value
    }

    // MARK: Scanning

    private var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    private func error(_ message: String) -> ConfigError { ConfigError(message, at: location) }

    private func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    private mutating func advance() {
        let byte = bytes[index]
        index += 1
        if byte == 10 {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 && byte != 13 {
            column += 1
        }
    }

    private var atComment: Bool {
        peek() == UInt8(ascii: "#") || (peek() == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/"))
    }

    private func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }
    private func isNewline(_ byte: UInt8) -> Bool { byte == 10 || byte == 13 }

    private mutating func skipSpaces() {
        while let byte = peek(), isSpace(byte) { advance() }
    }

    /// Skips white space, new lines and comments (and, between entries, `,` and `;`).
    private mutating func skipBlank(separators: Bool = false) {
        while let byte = peek() {
            if isSpace(byte) || isNewline(byte) || (separators && (byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";"))) {
                advance()
            } else if atComment {
                while let next = peek(), !isNewline(next) { advance() }
            } else {
                return
            }
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 65...70: return byte - 55
        case 97...102: return byte - 87
        default: return nil
        }
    }
}
