import Consumers
import Foundation
import NATSProtocol
import Testing
@testable import Broker

/// The request limits of pull consumers and `sample_freq`, refused and enforced in the reference's words.
@Suite struct ConsumerConfigCheckTests {
    private func config(_ json: String) throws -> ConsumerConfig {
        try JSONDecoder().decode(ConsumerConfig.self, from: Data(json.utf8))
    }
    private let stream = APIStreamConfig(name: "S", subjects: ["s.>"])

    @Test func maxExpiresBelowAMillisecondIsRefusedForPullConsumers() throws {
        let short = try config(#"{"durable_name":"d","ack_policy":"explicit","max_expires":999999}"#)
        #expect(ConsumerConfigCheck.refusal(short, stream: stream)?.errCode == 10115)
        let enough = try config(#"{"durable_name":"d","ack_policy":"explicit","max_expires":1000000}"#)
        #expect(ConsumerConfigCheck.refusal(enough, stream: stream) == nil)
        // Zero is "no limit", and is not echoed back.
        let zero = try config(#"{"durable_name":"d","ack_policy":"explicit","max_expires":0,"max_bytes":0}"#)
        #expect(zero.maxRequestExpires == nil && zero.maxRequestMaxBytes == nil)
        let echoed = String(decoding: try JSONEncoder().encode(zero), as: UTF8.self)
        #expect(!echoed.contains("max_expires") && !echoed.contains("max_bytes"))
    }

    @Test func sampleFrequencyMustBeAPercentage() throws {
        for good in ["100%", "50", "0", "+7%", "250"] {
            #expect(ConsumerConfigCheck.refusal(try config(#"{"durable_name":"d","sample_freq":"\#(good)"}"#), stream: stream) == nil, "\(good)")
        }
        let cases = [("abc", #"strconv.Atoi: parsing "abc": invalid syntax"#), ("5%%", #"strconv.Atoi: parsing "5%": invalid syntax"#),
                     ("-5%", "<nil>"), ("99999999999999999999", #"strconv.Atoi: parsing "99999999999999999999": value out of range"#)]
        for (text, reason) in cases {
            let refusal = ConsumerConfigCheck.refusal(try config(#"{"durable_name":"d","sample_freq":"\#(text)"}"#), stream: stream)
            #expect(refusal?.errCode == 10095 && refusal?.description == "failed to parse consumer sampling configuration: \(reason)", "\(text)")
        }
    }

    @Test func pullRequestsAboveTheConsumersLimitsAreRefused() throws {
        let limited = try config(#"{"durable_name":"d","ack_policy":"explicit","max_batch":10,"max_expires":1500000000,"max_bytes":4096}"#)
        func refusal(batch: Int = 1, expires: Int64? = nil, maxBytes: Int? = nil) -> String? {
            ConsumerConfigCheck.pullRefusal(batch: batch, expires: expires, maxBytes: maxBytes, config: limited)
        }
        #expect(refusal(batch: 10, expires: 1_500_000_000, maxBytes: 4096) == nil)
        #expect(refusal(batch: 11) == "Exceeded MaxRequestBatch of 10")
        #expect(refusal(expires: 1_500_000_001) == "Exceeded MaxRequestExpires of 1.5s")
        #expect(refusal(maxBytes: 4097) == "Exceeded MaxRequestMaxBytes of 4096")
        // A request without expires or max_bytes is not held to those limits.
        #expect(refusal(batch: 5) == nil)
        #expect(ConsumerConfigCheck.pullRefusal(batch: 1000, expires: 1 << 40, maxBytes: 1 << 30, config: try config(#"{"durable_name":"d"}"#)) == nil)
    }
}
