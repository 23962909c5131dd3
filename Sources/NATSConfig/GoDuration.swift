/// Go's duration syntax (`time.ParseDuration`), which nats-server uses for every time option: an optional
/// sign, then one or more decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g.
/// `1h30m`, `1.5s`, `500ms`; a bare `0` is zero.
public enum GoDuration {
    /// The duration in seconds, or nil when `text` is not one.
    public static func seconds(_ text: String) -> Double? {
        var rest = Substring(text)
        var sign = 1.0
        if rest.first == "-" || rest.first == "+" {
            if rest.first == "-" { sign = -1 }
            rest = rest.dropFirst()
        }
        if rest == "0" { return 0 }
        guard !rest.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        return sign * total
    }
}

extension GoDuration {
    /// A duration as Go's `time.Duration.String()` writes it, which nats-server puts in its messages
    /// (`Exceeded MaxRequestExpires of 1m30s`): `0s`; below a second in the largest unit that fits (`1.5µs`,
    /// `250ms`, `800ns`); else hours, minutes and seconds with the fraction's trailing zeros dropped (`1h0m0.5s`).
    public static func text(nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        let value = nanoseconds.magnitude
        var text: String
        if value < 1_000_000_000 {
            let (unit, digits): (String, Int) = value < 1_000 ? ("ns", 0) : value < 1_000_000 ? ("µs", 3) : ("ms", 6)
            text = decimal(value, fractionDigits: digits) + unit
        } else {
            let seconds = value / 1_000_000_000, fraction = value % 1_000_000_000
            let hours = seconds / 3600, minutes = seconds / 60 % 60
            text = decimal(seconds % 60 * 1_000_000_000 + fraction, fractionDigits: 9) + "s"
            if seconds >= 60 { text = "\(minutes)m" + text }
            if hours > 0 { text = "\(hours)h" + text }
        }
        return negative ? "-" + text : text
    }

    /// `value` ÷ 10^`fractionDigits` in decimal, without trailing zeros in the fraction (nor a lone point).
    private static func decimal(_ value: UInt64, fractionDigits: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<fractionDigits { scale *= 10 }
        let whole = value / scale
        var fraction = String(value % scale)
        guard fraction != "0" else { return "\(whole)" }
        fraction = String(repeating: "0", count: fractionDigits - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}
