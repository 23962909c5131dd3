import Foundation
import Testing
import Zstd
@testable import StreamStore

/// Zstd dictionaries (Specs/SegmentFormat.md, "Dictionaries"): made from a stream's first frames, stored
/// before use, named by the frames that use them, and needed (and checked) by every reader.
@Suite struct DictionaryTests {
    static let payload = String(repeating: #"{"order":12345,"item":"widget","qty":3}"#, count: 7)

    /// A stream written one small message per frame, as synchronous publishers do.
    static func smallFrames(_ count: Int, in directory: TemporaryDirectory) async throws -> FileStream {
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        for i in 1...count { _ = try await stream.append(request("orders.\(i % 4)", Self.payload + "\(i)")) }
        return stream
    }

    /// (dictionary id, stored length) of each frame of the stream's first segment.
    static func frameHeaders(_ root: String) throws -> [FrameHeader] {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: RecoveryTests.segmentPath(root))))
        return try RecoveryTests.frames(RecoveryTests.segmentPath(root)).map {
            try FrameHeader.decode(Array(bytes[$0.offset..<($0.offset + FrameHeader.size)]))
        }
    }

    @Test func smallFramesGetADictionaryAndShrink() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try await Self.smallFrames(400, in: directory)
        stream.close()
        let root = directory.stream()
        #expect(FileManager.default.fileExists(atPath: root + "/dict/1.dict"))
        let headers = try Self.frameHeaders(root)
        #expect(headers.count == 400)
        // The first frames (the samples) have none; every frame after the dictionary names it.
        let firstWith = try #require(headers.firstIndex { $0.dictionaryID == 1 })
        #expect(firstWith > 50 && firstWith < 200)
        #expect(headers[firstWith...].allSatisfy { $0.dictionaryID == 1 && $0.codec == .zstd })
        let before = headers[..<firstWith].map(\.storedLength).reduce(0, +) / UInt32(firstWith)
        let after = headers[firstWith...].map(\.storedLength).reduce(0, +) / UInt32(headers.count - firstWith)
        #expect(after * 3 < before * 2, "mean stored frame body \(before) B without the dictionary, \(after) B with it")

        // Reopened, every message reads back; verify is clean; compaction keeps them readable.
        let reopened = try FileStream(directory: root)
        for i in 1...400 { #expect(try reopened.message(sequence: UInt64(i))?.text == Self.payload + "\(i)") }
        #expect(try StreamVerifier.verify(directory: root).isClean)
        _ = try await reopened.delete(sequence: 3)
        _ = try await reopened.compact()
        for i in [1, 2, 4, 200, 400] { #expect(try reopened.message(sequence: UInt64(i))?.text == Self.payload + "\(i)") }
        reopened.close()
    }

    @Test func aMissingOrDamagedDictionaryIsAClearErrorForItsFramesOnly() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try await Self.smallFrames(300, in: directory)
        stream.close()
        let root = directory.stream()
        let headers = try Self.frameHeaders(root)
        let firstWith = try #require(headers.firstIndex { $0.dictionaryID == 1 })
        let file = root + "/dict/1.dict"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: file))

        let report = try StreamVerifier.verify(directory: root)
        #expect(!report.isClean)
        #expect(report.findings.contains { "\($0)".contains("dictionary 1") })
        let readOnly = try FileStream.openReadOnly(directory: root)
        #expect(try readOnly.message(sequence: 1)?.text == Self.payload + "1")  // a frame without the dictionary
        #expect {
            _ = try readOnly.message(sequence: UInt64(firstWith + 1))
        } throws: { "\($0)".contains("dictionary 1: checksum mismatch") }

        try FileManager.default.removeItem(atPath: file)
        #expect {
            _ = try FileStream.openReadOnly(directory: root).message(sequence: UInt64(firstWith + 1))
        } throws: { "\($0)".contains("dictionary 1 is missing") }
    }

    @Test func dictionaryFileRoundTripsAndRefusesDamage() throws {
        let bytes = Array(Self.payload.utf8)
        let file = FrameDictionaries.encodeFile(bytes, id: 7)
        #expect(try FrameDictionaries.decodeFile(file, id: 7) == bytes)
        #expect(throws: FormatError.self) { try FrameDictionaries.decodeFile(file, id: 8) }
        #expect(throws: FormatError.self) { try FrameDictionaries.decodeFile(Array(file.dropLast()), id: 7) }
        for i in [0, 9, 13, 17, 21, FrameDictionaries.headerSize + 3] {
            var damaged = file
            damaged[i] ^= 1
            #expect(throws: FormatError.self) { try FrameDictionaries.decodeFile(damaged, id: 7) }
        }
        // A frame compressed with a dictionary names it, and cannot be read without it.
        let dictionary = try Dictionary(bytes: bytes)
        var area: [UInt8] = []
        Record.appendMessage(sequence: 1, timestamp: 1, subject: "a", messageID: nil, headers: [], payload: bytes, to: &area)
        let frame = try Frame.encode(recordArea: area, recordCount: 1, compressor: Compressor(), dictionary: (3, dictionary))
        #expect(try FrameHeader.decode(frame).dictionaryID == 3)
        #expect(throws: FormatError.self) { _ = try Frame.decode(frame) }
    }
}
