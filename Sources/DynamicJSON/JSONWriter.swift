/// Writes dynamic values as JSON text, where Foundation's `JSONSerialization.data(withJSONObject:)` stood.
/// Objects (`[String: V]` for any V) are written with their keys sorted, so equal values give equal text; arrays
/// are `[V]`; strings are escaped as RFC 8259 requires (`/` is not escaped); `Bool`, every integer type, `Double`
/// and `Float` are numbers (a NaN or an infinity, which JSON cannot hold, is `null`); `JSONNull` and an empty
/// optional are `null`. A value of any other type is written as its description in a string. Pure.
public struct JSONWriter {
    /// Indented output, two spaces per level, `"key": value` (the layout of Go's `json.MarshalIndent`, which
    /// nats-server's monitoring uses).
    public var pretty: Bool

    public init(pretty: Bool = false) { self.pretty = pretty }

    public func bytes(_ value: Any) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(value, into: &output, depth: 0)
        return output
    }

    public func text(_ value: Any) -> String { String(decoding: bytes(value), as: UTF8.self) }

    private func newline(_ output: inout [UInt8], depth: Int) {
        guard pretty else { return }
        output.append(0x0A)
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * 2))
    }

    private func write(_ value: Any, into output: inout [UInt8], depth: Int) {
        switch value {
        case let string as String: Self.writeString(string, into: &output)
        case let bool as Bool: output.append(contentsOf: (bool ? "true" : "false").utf8)
        case let number as Int: output.append(contentsOf: String(number).utf8)
        case let number as UInt64: output.append(contentsOf: String(number).utf8)
        case let number as Int64: output.append(contentsOf: String(number).utf8)
        case let number as UInt: output.append(contentsOf: String(number).utf8)
        case let number as Int32: output.append(contentsOf: String(number).utf8)
        case let number as UInt32: output.append(contentsOf: String(number).utf8)
        case let number as Int16: output.append(contentsOf: String(number).utf8)
        case let number as UInt16: output.append(contentsOf: String(number).utf8)
        case let number as Int8: output.append(contentsOf: String(number).utf8)
        case let number as UInt8: output.append(contentsOf: String(number).utf8)
        case let number as Double: writeDouble(number, into: &output)
        case let number as Float: writeDouble(Double(number), into: &output)
        case is JSONNull: output.append(contentsOf: "null".utf8)
        case let object as [String: Any]:
            if object.isEmpty { output.append(contentsOf: "{}".utf8); return }
            output.append(UInt8(ascii: "{"))
            for (i, key) in object.keys.sorted().enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                newline(&output, depth: depth + 1)
                Self.writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                if pretty { output.append(UInt8(ascii: " ")) }
                write(object[key]!, into: &output, depth: depth + 1)
            }
            newline(&output, depth: depth)
            output.append(UInt8(ascii: "}"))
        case let array as [Any]:
            if array.isEmpty { output.append(contentsOf: "[]".utf8); return }
            output.append(UInt8(ascii: "["))
            for (i, element) in array.enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                newline(&output, depth: depth + 1)
                write(element, into: &output, depth: depth + 1)
            }
            newline(&output, depth: depth)
            output.append(UInt8(ascii: "]"))
        default:
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional {
                if let wrapped = mirror.children.first?.value { write(wrapped, into: &output, depth: depth) }
                else { output.append(contentsOf: "null".utf8) }
            } else {
                Self.writeString(String(describing: value), into: &output)
            }
        }
    }

    private func writeDouble(_ number: Double, into output: inout [UInt8]) {
        guard number.isFinite else { output.append(contentsOf: "null".utf8); return }
        if number == number.rounded(), abs(number) < 1e15 {
            output.append(contentsOf: String(Int64(number)).utf8)
        } else {
            output.append(contentsOf: "\(number)".utf8)
        }
    }

    /// A JSON string literal for `string`: quotes, backslashes and control characters escaped.
    public static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case 0x0A: output.append(contentsOf: "\\n".utf8)
            case 0x0D: output.append(contentsOf: "\\r".utf8)
            case 0x09: output.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: "\\u00".utf8)
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
