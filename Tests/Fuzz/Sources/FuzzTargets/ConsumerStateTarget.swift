import Consumers
import StreamStore

/// The two records a consumer leaves on disk: the consumer layer's state blob (binary, or the JSON of earlier
/// versions) and the store's consumer record. The first input byte picks which. Invariants: damage decodes to
/// nil or a typed error, never a crash; whatever decodes encodes to bytes that decode to the same value.
enum ConsumerStateTarget {
    static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        if selector & 1 == 0 {
            guard let state = StoredConsumerState(decoding: bytes) else { return }
            FuzzCheck.require(StoredConsumerState(decoding: state.encoded()) == state, "consumer state changes through its encoding")
        } else {
            guard let record = try? ConsumerRecord(decoding: bytes) else { return }
            FuzzCheck.require((try? ConsumerRecord(decoding: record.encoded())) == record, "consumer record changes through its encoding")
        }
    }
}
