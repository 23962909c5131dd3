import Foundation
import Testing
@testable import StreamStore

/// Appends at a given sequence and timestamp (what a mirror needs to keep its origin's numbering;
/// Specs/WritePath.md, "Appends at a given sequence"): the sequences skipped are held by nothing and count
/// as deleted, reads and counts see the gap, and the numbering survives a reopen, a lost index and a torn
/// tail. The file and the memory store behave alike.
@Suite struct GivenSequenceTests {
    static func at(_ sequence: UInt64, _ text: String, timestamp: Int64? = nil) -> AppendRequest {
        var request = request("m.\(sequence % 3)", text)
        request.sequence = sequence
        request.timestamp = timestamp
        return request
    }

    /// Origin sequences 100, 101 and 105 (with timestamps 1000, 2000, 5000), then one plain append.
    static func fill(_ stream: any MessageStore) async throws {
        #expect(try await stream.append(at(100, "a", timestamp: 1000)).sequence == 100)
        #expect(try await stream.append(at(101, "b", timestamp: 2000)).sequence == 101)
        #expect(try await stream.append(at(105, "c", timestamp: 5000)).sequence == 105)
        for behind: UInt64 in [105, 7] {
            await #expect {
                _ = try await stream.append(at(behind, "not above the last"))
            } throws: { error in
                guard case StoreError.wrongLastSequence(actual: 105) = error else { return false }
                return true
            }
        }
        #expect(try await stream.append(request("m.plain", "d")).sequence == 106)
    }

    static func expectFilled(_ stream: any MessageStore) throws {
        let state = stream.state
        #expect(state.firstSequence == 100 && state.lastSequence == 106 && state.messages == 4)
        #expect(try stream.message(sequence: 100)?.timestamp == 1000 && stream.message(sequence: 105)?.timestamp == 5000)
        #expect(try stream.message(sequence: 102) == nil && stream.message(sequence: 99) == nil)
        #expect(try stream.next(atOrAfter: 102, filter: nil)?.sequence == 105)
        #expect(try stream.messages(from: 1, filter: nil, limit: 10).map(\.sequence) == [100, 101, 105, 106])
        #expect(try stream.count(filter: nil, in: 100...106) == 4)
        #expect(try stream.message(sequence: 106)?.text == "d")
    }

    @Test func aMemoryStreamKeepsTheGivenNumbering() async throws {
        let stream = try MemoryStream(config: StreamConfig(name: "m"))
        try await Self.fill(stream)
        try Self.expectFilled(stream)
    }

    @Test func aFileStreamKeepsTheGivenNumberingAcrossAReopenAndARebuild() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        try await Self.fill(stream)
        try Self.expectFilled(stream)
        stream.close()
        let reopened = try FileStream(directory: directory.stream())
        #expect(reopened.recovery.indexRebuiltBecause == nil)
        try Self.expectFilled(reopened)
        reopened.close()
        // The index lost: rebuilt from the log, the same numbering and timestamps.
        try FileManager.default.removeItem(atPath: directory.stream() + "/index")
        let rebuilt = try FileStream(directory: directory.stream())
        #expect(rebuilt.recovery.indexRebuiltBecause == "index was missing")
        try Self.expectFilled(rebuilt)
        #expect(try await rebuilt.append(request("m.after", "e")).sequence == 107)
        rebuilt.close()
    }

    /// A torn last frame (an append at a given sequence that did not reach the disk whole): cut at every byte,
    /// the stream keeps what came before it, and the lost sequence is never given again.
    @Test func aTornAppendAtAGivenSequenceIsCutAndItsSequenceNotReused() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        _ = try await stream.append(Self.at(10, "first", timestamp: 100))
        _ = try await stream.append(Self.at(50, "torn", timestamp: 200))
        stream.close()
        let segment = directory.stream() + "/segments/" + SegmentHeader.fileName(firstSequence: 1)
        let last = try #require(try RecoveryTests.frames(segment).last)
        for cut in stride(from: last.offset, to: last.offset + last.length, by: 3) {
            let copy = try RecoveryTests.StreamCopy(of: directory.stream())
            try POSIXFileSystem().open(copy.path + "/segments/" + SegmentHeader.fileName(firstSequence: 1), create: false).truncate(to: Int64(cut))
            let torn = try FileStream(directory: copy.path)
            #expect(try torn.message(sequence: 10)?.text == "first" && torn.message(sequence: 50) == nil, "cut at \(cut)")
            #expect(torn.state.messages == 1 && torn.state.lastSequence == 50, "cut at \(cut)")
            #expect(try await torn.append(request("m.next", "next")).sequence == 51)
            torn.close()
        }
    }
}
