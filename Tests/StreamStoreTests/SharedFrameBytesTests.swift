import Testing
@testable import StreamStore

/// A scan's messages share their frame's decoded bytes (no copy per message), unless they are a small part of the
/// frames read, so that keeping a few messages of a sparse scan does not keep whole frames.
@Suite struct SharedFrameBytesTests {
    /// Whether `message`'s payload lies inside the record area of the frame the index places it in.
    private func payloadLiesInItsFrame(_ message: StoredMessage, of stream: FileStream) throws -> Bool {
        let location = try #require(try stream.index.read { try $0.location(message.sequence) })
        let frame = try stream.readers.frame(segment: location.segment, offset: location.frameOffset)
        return frame.area.withUnsafeBytes { area in
            message.payload.withUnsafeBytes { payload in
                guard let start = payload.baseAddress, let areaStart = area.baseAddress else { return false }
                return start >= areaStart && start + payload.count <= areaStart + area.count
            }
        }
    }

    @Test func aDenseScanSharesItsFramesAndASparseOneCopies() async throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let stream = try FileStream.create(at: directory.stream(), config: StreamConfig(name: "s"))
        defer { stream.close() }
        // One batch: a few frames of 16 KiB; "rare" is 1 message in 200.
        let payload = String(repeating: "x", count: 200)
        _ = await stream.append(contentsOf: (1...600).map { request($0 % 200 == 0 ? "rare" : "common.\($0 % 5)", "\($0) \(payload)") })

        let all = try stream.messages(from: 1, limit: 600)
        #expect(all.count == 600)
        #expect(try all.allSatisfy { try payloadLiesInItsFrame($0, of: stream) })
        #expect(all[41].text.hasPrefix("42 "))

        let rare = try stream.messages(from: 1, filter: "rare", limit: 10)
        #expect(rare.map(\.sequence) == [200, 400, 600])
        #expect(try rare.allSatisfy { try !payloadLiesInItsFrame($0, of: stream) })
        #expect(rare.map(\.text) == ["200 \(payload)", "400 \(payload)", "600 \(payload)"])
    }
}
