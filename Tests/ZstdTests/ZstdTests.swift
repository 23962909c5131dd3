import Testing
@testable import Zstd

@Suite struct ZstdTests {
    @Test func roundTripReusingContexts() throws {
        let compressor = Compressor(level: 1)
        let decompressor = Decompressor()
        for n in [0, 1, 100, 100_000] {
            let input = (0..<n).map { UInt8(truncatingIfNeeded: $0 / 7) }
            let compressed = try compressor.compress(input)
            #expect(try decompressor.decompress(compressed, size: n) == input)
        }
    }

    @Test func garbageAndWrongSizesAreErrors() throws {
        let decompressor = Decompressor()
        #expect(throws: ZstdError.self) { _ = try decompressor.decompress([1, 2, 3, 4, 5, 6, 7, 8], size: 10) }
        let compressed = try Compressor().compress(Array(repeating: 7, count: 1000))
        #expect(throws: ZstdError.self) { _ = try decompressor.decompress(compressed, size: 999) }
    }

    @Test func trainedDictionaryHelpsSmallMessages() throws {
        func message(_ i: Int) -> [UInt8] {
            Array("{\"id\":\(i),\"user\":\"user-\(i % 1000)\",\"action\":\"\(["view", "click", "buy"][i % 3])\",\"amount\":\(i % 997),\"region\":\"eu-west-\(i % 4)\",\"device\":\"mobile\",\"version\":\"2.4.\(i % 10)\"}".utf8)
        }
        let dictionary = try Dictionary.train(samples: (0..<2000).map(message), capacity: 8 << 10)
        let compressor = Compressor(level: 1)
        let decompressor = Decompressor()
        var plain = 0, withDictionary = 0, raw = 0
        for i in 5000..<5100 {
            let m = message(i)
            raw += m.count
            plain += try compressor.compress(m).count
            let small = try compressor.compress(m, dictionary: dictionary)
            withDictionary += small.count
            #expect(try decompressor.decompress(small, size: m.count, dictionary: dictionary) == m)
        }
        #expect(withDictionary * 2 < plain)
        #expect(withDictionary * 3 < raw)
        #expect(throws: ZstdError.self) { _ = try Dictionary.train(samples: [[1]]) }
    }
}
