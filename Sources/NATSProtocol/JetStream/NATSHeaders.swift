import NIOCore

/// Reads a NATS header block (`NATS/1.0[ status description]\r\nKey: Value\r\n…\r\n`), ADR-4.
public enum NATSHeaders {
    /// The headers in order (a key may repeat), without the status line.
    public static func parse(_ block: ByteBuffer) -> [(name: String, value: String)] {
        let text = String(buffer: block)
        var result: [(String, String)] = []
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true).dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: " \t")
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            result.append((name, value))
        }
        return result
    }

    /// The first value of `name` (case-sensitive, as the reference).
    public static func value(_ name: String, in block: ByteBuffer?) -> String? {
        guard let block else { return nil }
        return parse(block).first { $0.name == name }?.value
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
