import Foundation
import Testing
@testable import StreamStore

/// verify, repair and inspect over streams damaged in each way the engine's fault tests know.
@Suite struct ToolsTests {
    /// A closed stream of `count` messages in several segments, one frame per message.
    static func makeStream(_ directory: TemporaryDirectory, count: Int = 120, clock: ManualClock? = nil) async throws -> String {
        var config = StreamConfig(name: "s")
        config.segmentBytes = 4096
        let path = directory.stream()
        let stream = try FileStream.create(at: path, config: config, clock: clock?.function ?? FileStream.systemClock)
        for i in 1...count {
            _ = try await stream.append(request("t.\(i % 4)", "message \(i) " + String(repeating: "z", count: 20 + i % 30)))
            clock?.advance(1_000_000)
        }
        stream.close()
        return path
    }

    static func segmentFiles(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path + "/segments").filter { $0.hasSuffix(".seg") }.sorted()
    }

    static func expectIntact(_ path: String, except missing: Set<UInt64>, count: UInt64 = 120) throws {
        let stream = try FileStream(directory: path)
        defer { stream.close() }
        for sequence in 1...count {
            let message = try stream.message(sequence: sequence)
            if missing.contains(sequence) {
                #expect(message == nil, "sequence \(sequence) should be gone")
            } else {
                #expect(message?.text.hasPrefix("message \(sequence) ") == true, "sequence \(sequence)")
            }
        }
        #expect(stream.state.lastSequence >= count)
    }

    enum Damage: String, CaseIterable, CustomStringConvertible {
        case clean, tornTail, bitFlipMiddle, missingIndex, corruptIndex, staleIndex, missingSegment, truncatedHeader, zeroLengthSegment
        var description: String { rawValue }
    }

    /// Applies `damage`; returns the finding kinds verify must report and the sequences repair loses.
    static func apply(_ damage: Damage, to path: String) throws -> (kinds: Set<Finding.Kind>, lost: Set<UInt64>) {
        let files = try segmentFiles(path)
        let second = path + "/segments/" + files[1]
        let secondFirst = SegmentHeader.firstSequence(fileName: files[1])!
        let thirdFirst = SegmentHeader.firstSequence(fileName: files[2])!
        let secondRange = Set(secondFirst..<thirdFirst)
        let last = path + "/segments/" + files.last!
        switch damage {
        case .clean:
            return ([], [])
        case .tornTail:
            let frames = try RecoveryTests.frames(last)
            let handle = try POSIXFileSystem().open(last, create: false)
            try handle.truncate(to: Int64(frames.last!.offset + frames.last!.length / 2))
            return ([.damagedTail, .indexMismatch], [120])
        case .bitFlipMiddle:
            let frames = try RecoveryTests.frames(second)
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: second)))
            bytes[frames[1].offset + 40] ^= 0x08
            try Data(bytes).write(to: URL(fileURLWithPath: second))
            return ([.damagedFrames, .indexMismatch], [secondFirst + 1])
        case .missingIndex:
            try FileManager.default.removeItem(atPath: path + "/index")
            return ([.indexUnreadable], [])
        case .corruptIndex:
            try Data(repeating: 0x5A, count: 65536).write(to: URL(fileURLWithPath: path + "/index/data.mdb"))
            return ([.indexUnreadable], [])
        case .staleIndex:
            // The index of the first 60 messages, behind a log of 120.
            let early = TemporaryDirectory()
            defer { withExtendedLifetime(early) {} }
            var config = StreamConfig(name: "s")
            config.segmentBytes = 4096
            let stream = try FileStream.create(at: early.stream(), config: config)
            stream.close()
            try FileManager.default.removeItem(atPath: path + "/index")
            try FileManager.default.copyItem(atPath: early.stream() + "/index", toPath: path + "/index")
            return ([.indexMismatch], [])
        case .missingSegment:
            try FileManager.default.removeItem(atPath: second)
            return ([.indexMismatch], secondRange)
        case .truncatedHeader:
            let handle = try POSIXFileSystem().open(second, create: false)
            try handle.truncate(to: 20)
            return ([.badSegmentHeader, .indexMismatch], secondRange)
        case .zeroLengthSegment:
            let handle = try POSIXFileSystem().open(second, create: false)
            try handle.truncate(to: 0)
            return ([.badSegmentHeader, .indexMismatch], secondRange)
        }
    }

    @Test(arguments: Damage.allCases)
    func verifyReportsAndRepairRecoversExactlyTheIntactRecords(damage: Damage) async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let path = try await ToolsTests.makeStream(directory)
        let (kinds, lost) = try ToolsTests.apply(damage, to: path)

        let report = try StreamVerifier.verify(directory: path)
        #expect(Set(report.findings.map(\.kind)) == kinds, "\(report.findings)")
        #expect(report.isClean == (damage == .clean))
        if damage == .bitFlipMiddle {
            #expect(report.findings.first { $0.kind == .damagedFrames }?.sequences.map { Set($0) } == lost)
        }

        let plan = try StreamRepairer.repair(directory: path, dryRun: true)
        #expect(plan.dryRun && plan.actions.contains { $0.kind == .rebuildIndex })
        let repaired = try StreamRepairer.repair(directory: path)
        #expect(repaired.messages == UInt64(120 - lost.count))
        #expect(repaired.lastSequence >= 120, "sequences never go back")
        #expect(try StreamVerifier.verify(directory: path).isClean)
        try ToolsTests.expectIntact(path, except: lost)
        // Nothing is deleted: damaged bytes are kept in quarantine.
        if [.bitFlipMiddle, .tornTail, .truncatedHeader].contains(damage) {
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: path + "/quarantine")).isEmpty)
        }
    }

    @Test func repairRefusesWhileTheStreamIsHeld() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let path = try await ToolsTests.makeStream(directory, count: 5)
        let held = try FileStream(directory: path)
        #expect { _ = try StreamRepairer.repair(directory: path) } throws: { error in
            guard case StoreError.locked = error else { return false }
            return true
        }
        // Read-only tools still work, and say the stream is held.
        #expect(try StreamVerifier.verify(directory: path).isClean)
        #expect(try StreamInspector.inspect(directory: path).locked)
        let reader = try FileStream.openReadOnly(directory: path)
        #expect(try reader.message(sequence: 3)?.text.hasPrefix("message 3 ") == true)
        await #expect(throws: StoreError.self) { _ = try await reader.append(request("x", "y")) }
        held.close()
        #expect(try !StreamInspector.inspect(directory: path).locked)
    }

    @Test func inspectJSONMatchesGolden() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let path = try await ToolsTests.makeStream(directory, clock: ManualClock())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CrashTests.strataBinary)
        process.arguments = ["inspect", "--json", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let golden = try #require(Bundle.module.url(forResource: "inspect-golden", withExtension: "json", subdirectory: "Fixtures"))
        let actual = String(decoding: output, as: UTF8.self)
        if ProcessInfo.processInfo.environment["STRATA_UPDATE_GOLDEN"] != nil {
            try actual.write(toFile: #filePath.replacingOccurrences(of: "ToolsTests.swift", with: "Fixtures/inspect-golden.json"), atomically: true, encoding: .utf8)
        }
        #expect(actual == (try String(contentsOf: golden, encoding: .utf8)))
    }
}
