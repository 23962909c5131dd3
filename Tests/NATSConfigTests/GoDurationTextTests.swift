import NATSConfig
import Testing

/// Durations written as Go's `time.Duration.String()` writes them (the reference's error texts hold them).
@Suite struct GoDurationTextTests {
    @Test func writesEachRangeAsGoDoes() {
        let cases: [(Int64, String)] = [
            (0, "0s"), (1, "1ns"), (999, "999ns"), (1_500, "1.5µs"), (1_000_000, "1ms"), (250_000_000, "250ms"),
            (1_000_001, "1.000001ms"), (1_000_000_000, "1s"), (1_500_000_000, "1.5s"), (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (3_600_500_000_000, "1h0m0.5s"),
            (93_784_000_000_001, "26h3m4.000000001s"), (-2_000_000, "-2ms"),
        ]
        for (nanoseconds, text) in cases { #expect(GoDuration.text(nanoseconds: nanoseconds) == text, "\(nanoseconds)") }
    }

    @Test func whatItWritesParsesBack() {
        for nanoseconds: Int64 in [1, 1_500, 250_000_000, 1_500_000_000, 90_000_000_000, 3_600_500_000_000] {
            let seconds = GoDuration.seconds(GoDuration.text(nanoseconds: nanoseconds))
            #expect(seconds.map { abs($0 * 1e9 - Double(nanoseconds)) < 1 } == true)
        }
    }
}
