import NIOCore
import Testing
@testable import Broker

@Suite struct PubAckPayloadsTests {
    private func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test func writesEachAckAsTheReferenceDoes() {
        let payloads = PubAckPayloads.make(stream: "ORDERS", domainField: "", [(1, false), (18_446_744_073_709_551_615, false), (7, true)])
        #expect(payloads.map(text) == [
            #"{"stream":"ORDERS", "seq":1}"#,
            #"{"stream":"ORDERS", "seq":18446744073709551615}"#,
            #"{"stream":"ORDERS", "seq":7,"duplicate": true}"#,
        ])
        let inDomain = PubAckPayloads.make(stream: "S", domainField: #","domain":"hub""#, [(0, false), (42, true)])
        #expect(inDomain.map(text) == [#"{"stream":"S", "seq":0,"domain":"hub"}"#, #"{"stream":"S", "seq":42,"domain":"hub","duplicate": true}"#])
        #expect(PubAckPayloads.make(stream: "S", domainField: "", []).isEmpty)
    }

    @Test func eachPayloadIsItsOwnAndMatchesInterpolatedText() {
        var generator = SystemRandomNumberGenerator()
        let acks = (0..<500).map { _ in (sequence: UInt64.random(in: 0...UInt64.max, using: &generator), duplicate: Bool.random(using: &generator)) }
        func expected(_ i: Int) -> String {
            acks[i].duplicate ? #"{"stream":"KV_b", "seq":\#(acks[i].sequence),"duplicate": true}"# : #"{"stream":"KV_b", "seq":\#(acks[i].sequence)}"#
        }
        var payloads = PubAckPayloads.make(stream: "KV_b", domainField: "", acks)
        #expect(payloads.indices.allSatisfy { text(payloads[$0]) == expected($0) })
        // A payload read or written to (as a connection may) leaves the others as they were.
        payloads[0].moveReaderIndex(forwardBy: 3)
        payloads[1].writeString("x")
        #expect(text(payloads[1]) == expected(1) + "x")
        #expect((2..<acks.count).allSatisfy { text(payloads[$0]) == expected($0) })
    }
}
