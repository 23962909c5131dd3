#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// The time consumers run on (ack-wait deadlines, heartbeats, inactivity, rate limits): nanoseconds since
/// the epoch as the wall clock read when the process started, advanced by the monotonic clock since. A
/// step of the wall clock (NTP, an operator) therefore neither delays nor bursts redeliveries, while the
/// values stay comparable with wall time across restarts (persisted deadlines are re-read against a new
/// anchor; the clock's drift over one run is the error).
enum EngineClock {
    private static let anchor: (wall: Int64, monotonic: Int64) = (wallNow(), monotonicNow())

    /// Now, in this clock's nanoseconds.
    static func now() -> Int64 { anchor.wall + (monotonicNow() - anchor.monotonic) }

    static func wallNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func monotonicNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
