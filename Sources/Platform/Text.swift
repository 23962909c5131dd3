#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (and, with `newlines`, CR and LF): the trims
    /// Strata's parsers need, where Foundation's `trimmingCharacters(in:)` stood.
    public func trimmingWhitespace(newlines: Bool = false) -> String {
        let isTrimmed: (Character) -> Bool = { $0 == " " || $0 == "\t" || (newlines && ($0 == "\n" || $0 == "\r" || $0 == "\r\n")) }
        guard let first = firstIndex(where: { !isTrimmed($0) }) else { return "" }
        let last = lastIndex(where: { !isTrimmed($0) })!
        return String(self[first...last])
    }
}

extension String {
    /// printf-style formatting through the C library's `vsnprintf` (numbers and C strings only: `%d`, `%lld`,
    /// `%llu`, `%f`, `%.3f`, `%x`, `%s` with a C string pointer), where Foundation's `String(format:)` stood.
    public init(printf format: String, _ arguments: CVarArg...) {
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let needed = buffer.withUnsafeMutableBufferPointer { pointer in
                withVaList(arguments) { vsnprintf(pointer.baseAddress, pointer.count, format, $0) }
            }
            if needed < 0 { self = ""; return }
            if Int(needed) < buffer.count {
                self = String(decoding: buffer.prefix(Int(needed)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return
            }
            buffer = [CChar](repeating: 0, count: Int(needed) + 1)
        }
    }
}
