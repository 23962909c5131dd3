import Foundation
import Consumers
import Testing

@Suite struct RFC3339Tests {
    static let base: Int64 = 1_796_156_636 * 1_000_000_000  // 2026-12-01T20:23:56Z

    @Test(arguments: [(String, Int64)]([
        ("2026-12-01T20:23:56Z", base),
        ("2026-12-01T20:23:56.659123Z", base + 659_123_000),
        ("2026-12-01T20:23:56.1Z", base + 100_000_000),
        ("2026-12-01T20:23:56.123456789123Z", base + 123_456_789),
        ("2026-12-01T22:23:56+02:00", base),
        ("2026-12-01T15:53:56.5-04:30", base + 500_000_000),
        ("2026-12-01t20:23:56z", base),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T00:00:00Z", 1_709_164_800 * 1_000_000_000),
    ]))
    func parses(_ text: String, _ nanoseconds: Int64) {
        #expect(RFC3339.nanoseconds(text) == nanoseconds)
    }

    @Test(arguments: ["", "2026-12-01", "2026-12-01T20:23:56", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
                      "2026-12-01T20:23:56.Z", "2026-12-01T20:23:56+0200", "2026-12-01T24:00:00Z", "2026-12-01 20:23:56Z",
                      "2026-12-01T20:23:56Zjunk"])
    func refuses(_ text: String) {
        #expect(RFC3339.nanoseconds(text) == nil)
    }

    /// Written as Go writes RFC3339Nano, and the same as `gmtime` gives, over random times to 2262; parsed back.
    @Test func writesWhatGmtimeGivesAndParsesBack() {
        #expect(RFC3339.text(nanoseconds: 0) == "0001-01-01T00:00:00Z")
        #expect(RFC3339.text(nanoseconds: Self.base) == "2026-12-01T20:23:56Z")
        #expect(RFC3339.text(nanoseconds: Self.base + 100_000_000) == "2026-12-01T20:23:56.1Z")
        #expect(RFC3339.text(nanoseconds: Self.base + 659_123_000) == "2026-12-01T20:23:56.659123Z")
        #expect(RFC3339.text(nanoseconds: 1_709_164_800 * 1_000_000_000 + 7) == "2024-02-29T00:00:00.000000007Z")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let nanoseconds = Int64.random(in: 1...Int64.max, using: &generator)
            var seconds = time_t(nanoseconds / 1_000_000_000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let whole = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                               parts.tm_hour, parts.tm_min, parts.tm_sec)
            let text = RFC3339.text(nanoseconds: nanoseconds)
            #expect(text.hasPrefix(whole) && text.hasSuffix("Z"), "\(nanoseconds)")
            #expect(RFC3339.nanoseconds(text) == nanoseconds, "\(text)")
        }
    }
}
