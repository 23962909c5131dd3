/// The subjects an account's JetStream listens on, declared to the other side of a leaf connection as a
/// subscription would be (nats-server's JetStream holds internal subscriptions on them). Pure.
enum JetStreamInterest {
    /// For streams `streams` (name and subjects) on a server whose JetStream domain is `domain`:
    /// - each stream's subjects (plain publishes on the other side are captured here);
    /// - `$JS.ACK.<stream>.>` and `$JS.FC.<stream>.>` (acks and flow-control answers of its consumers);
    /// - with a domain, the sources of nats-server's domain mappings (`generateJSMappingTable`):
    ///   `$JS.<domain>.API.INFO`, `.STREAM.>`, `.CONSUMER.>`, `.DIRECT.>`, `.META.>`, `.SERVER.>`,
    ///   `.ACCOUNT.>`, `.$KV.>`, `.$OBJ.>`, which reach this server's JetStream from the other side.
    static func subjects(streams: [(name: String, subjects: [String])], domain: String?) -> Set<String> {
        var result = Set<String>()
        for stream in streams {
            result.formUnion(stream.subjects)
            result.insert("$JS.ACK.\(stream.name).>")
            result.insert("$JS.FC.\(stream.name).>")
        }
        if let domain {
            for suffix in ["INFO", "STREAM.>", "CONSUMER.>", "DIRECT.>", "META.>", "SERVER.>", "ACCOUNT.>", "$KV.>", "$OBJ.>"] {
                result.insert("$JS.\(domain).API.\(suffix)")
            }
        }
        return result
    }
}
