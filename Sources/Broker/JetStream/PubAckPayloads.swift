import NATSProtocol
import NIOCore

/// The payloads of a stored batch's pub acks (`{"stream":"S", "seq":N}`, with the server's domain and a
/// duplicate's flag as nats-server 2.9.10 writes them), written into one buffer: each payload is a slice of it,
/// so a batch of acks costs one allocation, not a string and a buffer per ack. Pure.
enum PubAckPayloads {
    /// One payload per entry of `acks`, in order.
    /// `domainField`: `,"domain":"D"` or empty.
    static func make(stream: String, domainField: String, _ acks: [(sequence: UInt64, duplicate: Bool)]) -> [ByteBuffer] {
        guard !acks.isEmpty else { return [] }
        let head = #"{"stream":""# + stream + #"", "seq":"#
        let duplicateTail = #","duplicate": true}"#
        let perAck = head.utf8.count + 20 + domainField.utf8.count + duplicateTail.utf8.count
        var buffer = ByteBuffer()
        buffer.reserveCapacity(perAck * acks.count)
        var ends: [Int] = []
        ends.reserveCapacity(acks.count)
        for ack in acks {
            buffer.writeString(head)
            buffer.writeDecimal(ack.sequence)
            buffer.writeString(domainField)
            if ack.duplicate { buffer.writeString(duplicateTail) } else { buffer.writeInteger(UInt8(ascii: "}")) }
            ends.append(buffer.writerIndex)
        }
        // (slices are taken once everything is written: a slice taken earlier would make the next write copy)
        var start = 0
        return ends.map { end in
            defer { start = end }
            return buffer.getSlice(at: start, length: end - start)!
        }
    }
}
