/// Why a text is not JSON, with the byte offset where reading stopped.
public struct JSONReadError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public let offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// Reads JSON text (RFC 8259) into dynamic values, where Foundation's `JSONSerialization.jsonObject` stood:
/// objects become `[String: Any]`, arrays `[Any]`, strings `String`, `true`/`false` `Bool`, `null` `JSONNull`,
/// numbers `Int` when they are integers that fit and `Double` otherwise. Pure; a text that is not JSON (or nests
/// deeper than `maximumDepth`) is a `JSONReadError`, never a crash. Whitespace may surround the value; anything
/// else after it is an error.
public struct JSONReader {
    public static let maximumDepth = 512

    public static func value(_ bytes: some Collection<UInt8>) throws(JSONReadError) -> Any {
        let array = Array(bytes)
        var reader = JSONReader(bytes: array)
        reader.skipWhitespace()
        let value = try reader.readValue(depth: 0)
        reader.skipWhitespace()
        guard reader.offset == array.count else { throw reader.error("unexpected text after the value") }
        return value
    }

    public static func value(_ text: String) throws(JSONReadError) -> Any { try value(Array(text.utf8)) }

    /// The text's value when it is a JSON object, or nil when it is not JSON or not an object.
    public static func object(_ bytes: some Collection<UInt8>) -> [String: Any]? { (try? value(bytes)) as? [String: Any] }
    public static func object(_ text: String) -> [String: Any]? { object(Array(text.utf8)) }

    private let bytes: [UInt8]
    private var offset = 0

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ reason: String) -> JSONReadError { JSONReadError(reason: reason, offset: offset) }

    private mutating func skipWhitespace() {
        while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0A || bytes[offset] == 0x0D || bytes[offset] == 0x09 {
            offset += 1
        }
    }

    private mutating func readValue(depth: Int) throws(JSONReadError) -> Any {
        guard depth < Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth)") }
        guard offset < bytes.count else { throw error("unexpected end") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return try readObject(depth: depth)
        case UInt8(ascii: "["): return try readArray(depth: depth)
        case UInt8(ascii: "\""): return try readString()
        case UInt8(ascii: "t"): try readLiteral("true"); return true
        case UInt8(ascii: "f"): try readLiteral("false"); return false
        case UInt8(ascii: "n"): try readLiteral("null"); return JSONNull()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try readNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func readLiteral(_ word: StaticString) throws(JSONReadError) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw error("unexpected end") }
        for i in 0..<count where bytes[offset + i] != word.utf8Start[i] { throw error("unexpected character") }
        offset += count
    }

    private mutating func readObject(depth: Int) throws(JSONReadError) -> [String: Any] {
        offset += 1
        var object: [String: Any] = [:]
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") { offset += 1; return object }
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try readString()
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw error("expected ':'") }
            offset += 1
            skipWhitespace()
            object[key] = try readValue(depth: depth + 1)
            skipWhitespace()
            guard offset < bytes.count else { throw error("unexpected end") }
            if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
            if bytes[offset] == UInt8(ascii: "}") { offset += 1; return object }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func readArray(depth: Int) throws(JSONReadError) -> [Any] {
        offset += 1
        var array: [Any] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") { offset += 1; return array }
        while true {
            skipWhitespace()
            array.append(try readValue(depth: depth + 1))
            skipWhitespace()
            guard offset < bytes.count else { throw error("unexpected end") }
            if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
            if bytes[offset] == UInt8(ascii: "]") { offset += 1; return array }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func readString() throws(JSONReadError) -> String {
        offset += 1
        var text: [UInt8] = []
        while true {
            guard offset < bytes.count else { throw error("unterminated string") }
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: text, as: UTF8.self) else { throw error("string is not UTF-8") }
                return string
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { throw error("unterminated string") }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escape)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"): text.append(contentsOf: try readUnicodeEscape())
                default: throw error("unknown escape")
                }
            case 0..<0x20: throw error("control character in a string")
            default: text.append(byte)
            }
        }
    }

    private mutating func readHex4() throws(JSONReadError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// `\uXXXX` (the `\u` already read), joining a surrogate pair; the UTF-8 of the scalar.
    private mutating func readUnicodeEscape() throws(JSONReadError) -> [UInt8] {
        var scalar = try readHex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                throw error("lone surrogate")
            }
            offset += 2
            let low = try readHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("lone surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw error("lone surrogate")
        }
        return Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
    }

    private mutating func readNumber() throws(JSONReadError) -> Any {
        let start = offset
        var integral = true
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw error("bad number") }
        if bytes[offset] == UInt8(ascii: "0") { offset += 1 } else { while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 } }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            integral = false
            offset += 1
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw error("bad number") }
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            integral = false
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw error("bad number") }
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if integral, let int = Int(text) { return int }
        if integral, let unsigned = UInt64(text) { return unsigned }
        guard let double = Double(text) else { throw error("bad number") }
        return double
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
