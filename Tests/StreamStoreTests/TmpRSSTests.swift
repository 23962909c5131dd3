import Foundation
import Testing
@testable import StreamStore

@Suite struct TmpRSSTests {
    static func rss() -> Int { let s = try! String(contentsOfFile: "/proc/self/statm", encoding: .utf8); return Int(s.split(separator: " ")[1])! * 4 }
    @Test func reopenRSS() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let budget = OpenStreamBudget(maxOpen: 10)
        var streams: [OnDemandFileStream] = []
        for i in 0..<300 {
            let s = try OnDemandFileStream.create(at: directory.stream("s\(i)"), config: StreamConfig(name: "s\(i)"), budget: budget)
            _ = try await s.append(request("a", "x"))
            streams.append(s)
        }
        _ = budget.waitUntil(seconds: 30) { budget.openCount <= 10 }
        print("start rss KiB", Self.rss())
        for round in 0..<5 {
            let t0 = Date()
            for s in streams { _ = try s.message(sequence: 1) }
            _ = budget.waitUntil(seconds: 30) { budget.openCount <= 10 }
            print("round", round, "rss KiB", Self.rss(), "ms/reopen", Date().timeIntervalSince(t0) * 1000 / 300, budget.closedCount)
        }
    }
}
