import Foundation
import Testing
@testable import StreamStore

/// Kills a writer process with SIGKILL at random moments while it appends with sync `always`, then
/// reopens the stream and checks that every acknowledged message is present and intact.
/// `STRATA_CRASH_ROUNDS` sets the number of rounds (default 4; `make crash-test` runs 50).
@Suite struct CrashTests {
    static var strataBinary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the tests run from .build/<config>/<Package>PackageTests.xctest; the tool sits beside it.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("strata").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("strata").path
    }

    /// Runs the writer until it has printed `acks` acknowledgements, then SIGKILLs it.
    /// Returns sequence → message id for every acknowledgement read.
    static func runAndKill(stream: String, acks: Int) throws -> [UInt64: Int] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strataBinary)
        process.arguments = ["crash-writer", stream, "always"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var acknowledged: [UInt64: Int] = [:]
        var buffer = Data()
        let reader = pipe.fileHandleForReading
        while acknowledged.count < acks {
            let chunk = reader.availableData
            if chunk.isEmpty { break }  // the writer exited on its own: an error, caught below
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                let fields = line.split(separator: " ")
                if fields.count == 3, fields[0] == "ack", let sequence = UInt64(fields[1]), let id = Int(fields[2]) {
                    acknowledged[sequence] = id
                }
            }
        }
        #expect(process.isRunning, "the crash writer stopped by itself")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        return acknowledged
    }

    @Test func everyAcknowledgedAppendSurvivesSIGKILL() throws {
        #expect(FileManager.default.isExecutableFile(atPath: CrashTests.strataBinary), "build the strata tool first")
        let rounds = Int(ProcessInfo.processInfo.environment["STRATA_CRASH_ROUNDS"] ?? "") ?? 4
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let path = directory.stream("crash")
        var everAcknowledged: [UInt64: Int] = [:]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<rounds {
            let acknowledged = try CrashTests.runAndKill(stream: path, acks: Int.random(in: 50...3000, using: &generator))
            for (sequence, id) in acknowledged {
                #expect(everAcknowledged[sequence] == nil, "sequence \(sequence) was acknowledged twice")
                everAcknowledged[sequence] = id
            }
            let stream = try FileStream(directory: path)
            for (sequence, id) in everAcknowledged {
                let message = try stream.message(sequence: sequence)
                #expect(message?.text == "payload-\(id)", "round \(round): sequence \(sequence)")
                #expect(message?.subject == "crash.\(id % 7)")
            }
            // Nothing but acknowledged or in-flight appends: every held message is well-formed.
            #expect(stream.state.messages >= UInt64(everAcknowledged.count))
            #expect(stream.state.lastSequence >= everAcknowledged.keys.max() ?? 0)
            stream.close()
        }
    }
}
