/// Messages and their bytes (headers and payload, as nats-server counts `in_bytes` and `out_bytes`).
struct MessageCount: Sendable, Equatable {
    var messages = 0
    var bytes = 0

    @inline(__always)
    mutating func add(bytes: Int) {
        messages &+= 1
        self.bytes &+= bytes
    }

    static func + (a: MessageCount, b: MessageCount) -> MessageCount {
        MessageCount(messages: a.messages &+ b.messages, bytes: a.bytes &+ b.bytes)
    }

    static func += (a: inout MessageCount, b: MessageCount) { a = a + b }
}
