import Foundation
import Platform
import Testing
@testable import DynamicJSON

/// The reader and writer against Foundation's JSONSerialization, the implementation they replace: what
/// Foundation reads from a text, it reads equally from what `JSONWriter` writes of `JSONReader`'s value.
@Suite struct JSONReaderWriterTests {
    static let samples = [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-2.5,"g":1e3,"h":""}"#,
        #"[1,2,3,"x",{"y":[]},{}]"#,
        #"{"escapes":"quote \" backslash \\ slash \/ tab \t nl \n cr \r bs \b ff \f","u":"\u00e9\u4e2d\ud83d\ude00"}"#,
        #"  {"spaces" : [ 1 , 2 ] }  "#,
        #"{"big":9223372036854775807,"neg":-9223372036854775808,"huge":18446744073709551615,"frac":0.000001}"#,
        #""just a string""#, "42", "true", "null", "-0", "[[[[[]]]]]",
        #"{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"S","subjects":["a.>"],"max_msgs":-1}}"#,
    ]

    @Test(arguments: samples)
    func readsWhatFoundationReads(text: String) throws {
        let ours = try JSONReader.value(text)
        let rewritten = JSONWriter().bytes(ours)
        let fromOurs = try JSONSerialization.jsonObject(with: Data(rewritten), options: [.fragmentsAllowed]) as! NSObject
        let fromText = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as! NSObject
        #expect(fromOurs.isEqual(fromText), "\(String(decoding: rewritten, as: UTF8.self))")
        // And the pretty layout holds the same value.
        let pretty = try JSONSerialization.jsonObject(with: Data(JSONWriter(pretty: true).bytes(ours)), options: [.fragmentsAllowed]) as! NSObject
        #expect(pretty.isEqual(fromText))
    }

    @Test func numbersAreIntWhenIntegralAndDoubleOtherwise() throws {
        let object = try #require(JSONReader.object(#"{"i":7,"d":7.5,"e":7e0,"u":18446744073709551615,"n":-3}"#))
        #expect(object["i"] as? Int == 7)
        #expect(object["d"] as? Double == 7.5)
        #expect(object["e"] as? Double == 7)
        #expect(object["u"] as? UInt64 == UInt64.max)
        #expect(object["n"] as? Int == -3)
        #expect(object["i"] as? Bool == nil)
    }

    @Test(arguments: [
        "", "{", "[1,", #"{"a" 1}"#, "01", "1.", "-", "1e", "+1", ".5", "tru", "nul",
        #""unterminated"#, #""bad \x escape""#, #""\ud83d alone""#, #""\ude00""#, #""\u12g4""#, "[1] 2", "{} x",
        "\"tab\there\"", "NaN", "[Infinity]",
    ])
    func refusesWhatIsNotJSON(text: String) {
        #expect(throws: JSONReadError.self) { try JSONReader.value(text) }
        // Foundation agrees that none of these is JSON.
        #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
    }

    /// RFC 8259 has no trailing commas (Foundation's reader on Linux lets them through; nats-server's Go reader
    /// refuses them, as this one does).
    @Test(arguments: [#"{"a":1,}"#, "[1,]", "[,]", "{,}"])
    func refusesTrailingCommas(text: String) {
        #expect(throws: JSONReadError.self) { try JSONReader.value(text) }
    }

    @Test func refusesNestingDeeperThanItsLimitWithoutCrashing() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let error = try #require(throws: JSONReadError.self) { try JSONReader.value(deep) }
        #expect(error.offset == JSONReader.maximumDepth)
        let allowed = String(repeating: "[", count: JSONReader.maximumDepth) + String(repeating: "]", count: JSONReader.maximumDepth)
        _ = try JSONReader.value(allowed)
    }

    @Test func refusesTextThatIsNotUTF8() {
        #expect(throws: JSONReadError.self) { try JSONReader.value([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func writesSortedKeysEscapesAndNulls() {
        let value: [String: Any] = [
            "z": 1, "a": "x/y \"q\" \\ \n\u{01}", "m": [Int8(-1), UInt16(2), Int64(3), UInt64.max] as [Any],
            "nan": Double.nan, "inf": Double.infinity, "none": Optional<Int>.none as Any, "some": Optional(5) as Any,
            "null": JSONNull(), "t": true, "f": Float(0.5), "d": 1.0, "e": 1e-7,
        ]
        #expect(JSONWriter().text(value) == #"{"a":"x/y \"q\" \\ \n\u0001","d":1,"e":1e-07,"f":0.5,"inf":null,"m":[-1,2,3,18446744073709551615],"nan":null,"none":null,"null":null,"some":5,"t":true,"z":1}"#)
    }

    @Test func prettyLayoutIsGoStyle() {
        let value: [String: Any] = ["b": [1, 2] as [Any], "a": [String: Any](), "c": [Any](), "d": ["e": "f"]]
        #expect(JSONWriter(pretty: true).text(value) == """
        {
          "a": {},
          "b": [
            1,
            2
          ],
          "c": [],
          "d": {
            "e": "f"
          }
        }
        """)
    }

    /// Random values (seeded): what the writer writes, the reader reads back to the same value.
    @Test func randomValuesRoundTrip() throws {
        var random = SplitMix64(seed: 0x5EED)
        for _ in 0..<2_000 {
            let value = Self.randomValue(&random, depth: 0)
            let text = JSONWriter().text(value)
            let back = try JSONReader.value(text)
            #expect(JSONWriter().text(back) == text)
        }
    }

    private static func randomValue(_ random: inout SplitMix64, depth: Int) -> Any {
        switch random.next() % (depth > 4 ? 5 : 7) {
        case 0: return Int(truncatingIfNeeded: random.next()) >> Int(random.next() % 60)
        case 1: return Double(Int64(truncatingIfNeeded: random.next()) >> 20) / 1024
        case 2: return random.next() % 2 == 0
        case 3: return JSONNull()
        case 4:
            let scalars = (0..<Int(random.next() % 12)).map { _ -> Character in
                let pick = [0x01, 0x1F, 0x22, 0x5C, 0x2F, 0x41, 0xE9, 0x4E2D, 0x1F600][Int(random.next() % 9)]
                return Character(Unicode.Scalar(UInt32(pick))!)
            }
            return String(scalars)
        case 5: return (0..<Int(random.next() % 5)).map { _ in randomValue(&random, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for i in 0..<Int(random.next() % 5) { object["k\(i)\(random.next() % 3)"] = randomValue(&random, depth: depth + 1) }
            return object
        }
    }
}

