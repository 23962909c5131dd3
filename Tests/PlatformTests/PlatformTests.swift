import Foundation
import Testing
@testable import Platform

@Suite struct PlatformTests {
    @Test func lockSerialisesThreads() {
        let lock = Lock()
        let done = Condition()
        nonisolated(unsafe) var counter = 0
        nonisolated(unsafe) var finished = 0
        for _ in 0..<4 {
            DetachedThread.start(name: "lock-test", stackSize: 64 << 10) {
                for _ in 0..<10_000 { lock.withLock { counter += 1 } }
                done.withLock { finished += 1; done.signal() }
            }
        }
        done.lock()
        while finished < 4 { done.wait() }
        done.unlock()
        #expect(counter == 40_000)
    }

    @Test func conditionWaitReturnsFalseAtItsDeadlineAndTrueWhenSignalled() {
        let condition = Condition()
        condition.lock()
        #expect(condition.wait(until: Date().addingTimeInterval(0.01)) == false)
        #expect(condition.wait(until: Date(timeIntervalSince1970: 0)) == false)
        condition.unlock()

        nonisolated(unsafe) var ready = false
        DetachedThread.start(name: "signaller", stackSize: 64 << 10) {
            condition.withLock { ready = true; condition.signal() }
        }
        condition.lock()
        while !ready { #expect(condition.wait(until: Date().addingTimeInterval(60))) }
        condition.unlock()
    }

    @Test func detachedThreadCarriesItsName() throws {
        let condition = Condition()
        nonisolated(unsafe) var name = ""
        DetachedThread.start(name: "strata-name-test-long", stackSize: 64 << 10) {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            condition.withLock { name = comm.trimmingWhitespace(newlines: true); condition.signal() }
        }
        condition.lock()
        while name.isEmpty { condition.wait() }
        condition.unlock()
        #expect(name == "strata-name-tes")  // (Linux keeps 15 bytes)
    }

    @Test(arguments: [
        ("  a b\t", false, "a b"), ("\t\n x \r\n", true, "x"), ("\n x \n", false, "\n x \n"), ("", false, ""),
        ("   ", false, ""), ("x", true, "x"),
    ])
    func trimsWhitespace(text: String, newlines: Bool, expected: String) {
        #expect(text.trimmingWhitespace(newlines: newlines) == expected)
        #expect(Substring(text).trimmingWhitespace(newlines: newlines) == expected)
    }

    @Test func formatsLikePrintf() {
        #expect(String(printf: "%04d/%02d %.3f %llu %lld %5.1f%%", 7, 3, 1.23456, UInt64.max, Int64.min, 2.25) ==
                "0007/03 1.235 18446744073709551615 -9223372036854775808   2.2%")
        let long = String(repeating: "x", count: 1000)
        #expect(String(printf: "%s", (long as NSString).utf8String!).count == 1000)
    }

    @Test func outputDescriptorAppendsToAFile() throws {
        let path = NSTemporaryDirectory() + "strata-output-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "first\n".write(toFile: path, atomically: false, encoding: .utf8)
        do {
            let output = try #require(OutputDescriptor(appendingTo: path))
            output.write("second\n")
            output.write([0x41, 0x0A])
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first\nsecond\nA\n")
        #expect(OutputDescriptor(appendingTo: "/nonexistent-directory/file") == nil)
    }
}
