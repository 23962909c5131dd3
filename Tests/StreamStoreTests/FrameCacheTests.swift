import Testing
@testable import StreamStore

/// The decoded-frame cache: scans keep their last frames, point reads keep frames up to their byte limit with
/// a second chance, a point read moves a scan's frame over, and every change of the point part's bytes is
/// reported for the process's budget.
@Suite struct FrameCacheTests {
    /// A frame of `records` messages of 100 bytes each.
    private func frame(records: Int = 4) throws -> DecodedFrame {
        var area: [UInt8] = []
        for i in 0..<records {
            Record.appendMessage(sequence: UInt64(i + 1), timestamp: 0, subject: "s", messageID: nil, headers: [],
                                 payload: [UInt8](repeating: 7, count: 100), to: &area)
        }
        let header = FrameHeader(codec: .none, dictionaryID: 0, recordCount: UInt32(records), rawLength: UInt32(area.count),
                                 storedLength: UInt32(area.count), crc: 0)
        return try DecodedFrame(header: header, area: area)
    }

    private func key(_ offset: UInt64, segment: UInt64 = 1) -> FrameCache.Key { .init(segment: segment, offset: offset) }

    @Test func scansKeepTheirLastFramesAndNoPointBytes() throws {
        var cache = FrameCache(scanCapacity: 3)
        let f = try frame()
        for offset in UInt64(0)..<5 { #expect(cache.insert(f, at: key(offset), use: .scan, pointLimit: 0) == 0) }
        var delta = 0
        #expect((0..<5).map { cache.frame(key(UInt64($0)), use: .scan, pointLimit: { 0 }, delta: &delta) != nil } == [false, false, true, true, true])
        #expect(cache.scanCount == 3 && cache.pointBytes == 0 && delta == 0)
    }

    @Test func pointReadsKeepFramesWithinTheirLimitWithASecondChance() throws {
        let f = try frame()
        let limit = 3 * f.cost
        var cache = FrameCache(scanCapacity: 2)
        var reported = 0
        for offset in UInt64(0)..<3 { reported += cache.insert(f, at: key(offset), use: .point, pointLimit: limit) }
        #expect(cache.pointBytes == limit && reported == limit)
        // Frame 0 is used again: when frame 3 needs room, frame 1 goes, not 0.
        var delta = 0
        #expect(cache.frame(key(0), use: .point, pointLimit: { limit }, delta: &delta) != nil)
        reported += cache.insert(f, at: key(3), use: .point, pointLimit: limit)
        #expect((0..<4).map { cache.frame(key(UInt64($0)), use: .scan, pointLimit: { limit }, delta: &delta) != nil } == [true, false, true, true])
        #expect(cache.pointBytes == limit && reported + delta == cache.pointBytes)
        // A frame larger than the limit is not kept; a smaller limit (the budget is spent) lets older ones go.
        #expect(cache.insert(f, at: key(9), use: .point, pointLimit: f.cost - 1) == 0)
        reported += cache.insert(f, at: key(4), use: .point, pointLimit: 2 * f.cost)
        #expect(cache.pointBytes == 2 * f.cost && reported + delta == cache.pointBytes)
    }

    @Test func aPointReadMovesAScansFrameOverAndRemovalCountsBoth() throws {
        let f = try frame()
        var cache = FrameCache(scanCapacity: 2)
        _ = cache.insert(f, at: key(0), use: .scan, pointLimit: 0)
        var delta = 0
        #expect(cache.frame(key(0), use: .point, pointLimit: { 10 * f.cost }, delta: &delta) != nil)
        #expect(delta == f.cost && cache.pointBytes == f.cost && cache.scanCount == 0)
        // Scans coming after it no longer push it out.
        for offset in UInt64(1)..<6 { _ = cache.insert(f, at: key(offset), use: .scan, pointLimit: 0) }
        #expect(cache.frame(key(0), use: .scan, pointLimit: { 0 }, delta: &delta) != nil && cache.scanCount == 2)
        _ = cache.insert(f, at: key(0, segment: 2), use: .point, pointLimit: 10 * f.cost)
        #expect(cache.remove(segment: 1) == -f.cost)
        #expect(cache.count == 1 && cache.scanCount == 0 && cache.pointBytes == f.cost)
    }

    /// Random inserts, reads and removals against a model of what the cache may hold: its counts and bytes
    /// always add up, stay within their limits, and every frame it returns is the one stored at that key.
    @Test func randomUseKeepsTheBooksStraight() throws {
        let frames = try (1...3).map { try frame(records: $0 * 2) }
        var cache = FrameCache(scanCapacity: 4)
        var generator = SystemRandomNumberGenerator()
        var stored: [FrameCache.Key: DecodedFrame] = [:]
        var reported = 0
        for _ in 0..<5_000 {
            let k = key(UInt64.random(in: 0..<20, using: &generator), segment: UInt64.random(in: 0..<3, using: &generator))
            let use: FrameCache.Use = Bool.random(using: &generator) ? .point : .scan
            let limit = Int.random(in: 0...(6 * frames[2].cost), using: &generator)
            switch Int.random(in: 0..<10, using: &generator) {
            case 0: reported += cache.remove(segment: k.segment); stored = stored.filter { $0.key.segment != k.segment }
            case 1...4:
                let f = stored[k] ?? frames.randomElement(using: &generator)!
                stored[k] = f
                reported += cache.insert(f, at: k, use: use, pointLimit: limit)
            default:
                var delta = 0
                if let found = cache.frame(k, use: use, pointLimit: { limit }, delta: &delta) { #expect(found === stored[k]) }
                reported += delta
            }
            #expect(reported == cache.pointBytes && cache.scanCount <= 4 && cache.pointBytes >= 0)
            #expect(cache.count >= cache.scanCount)
        }
    }
}
