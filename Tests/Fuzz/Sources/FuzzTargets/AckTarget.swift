@testable import Broker
import Consumers
import Subjects

/// What a client sends to acknowledge a delivery: the reply subject it answers on (the input's first line) and
/// the ack body (the rest). Invariants: an ack subject is read only when it has the nine-token form, and the
/// stream, consumer and sequence read from it are what a delivery's ack subject with those values carries;
/// every body that parses as an ack kind, written canonically, parses to the same kind.
enum AckTarget {
    static func run(_ input: [UInt8]) {
        let newline = input.firstIndex(of: 10) ?? input.count
        let subject = String(decoding: input[..<newline], as: UTF8.self)
        let body = newline < input.count ? String(decoding: input[(newline + 1)...], as: UTF8.self) : ""
        if let (stream, consumer, sequence) = JetStreamService.parseAckSubject(subject) {
            let tokens = subject.subjectTokens()
            FuzzCheck.require(tokens.count >= 9 && UInt64(tokens[5]) == sequence, "ack subject read from \(tokens.count) tokens")
            let rebuilt = ConsumerEngine.ackSubject(stream: String(stream), consumer: String(consumer), deliveries: 1,
                                                    streamSequence: sequence, consumerSequence: 1, timestamp: 0, pending: 0)
            if !stream.contains("."), !consumer.contains(".") {
                let again = JetStreamService.parseAckSubject(rebuilt)
                FuzzCheck.require(again.map { ($0.0, $0.1, $0.2) == (stream, consumer, sequence) } ?? false, "ack subject does not survive rebuilding")
            }
        }
        guard let kind = AckKind.parse(body) else { return }
        FuzzCheck.require(AckKind.parse(canonical(kind)) == kind, "\(kind) does not survive its canonical body")
    }

    static func canonical(_ kind: AckKind) -> String {
        switch kind {
        case .ack: "+ACK"
        case .nak(nil): "-NAK"
        case .nak(let delay?): #"-NAK {"delay":\#(delay)}"#
        case .inProgress: "+WPI"
        case .term: "+TERM"
        }
    }
}
