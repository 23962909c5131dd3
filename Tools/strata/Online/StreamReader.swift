#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// Reads a stream in order through an ephemeral push consumer (ack none), as the nats CLI's ordered
/// reads do: `stream view`, `kv history` and `kv watch`. The consumer is deleted when the read ends.
struct StreamReader {
    let api: JetStreamAPI
    let stream: String
    var filter: String?
    /// `all`, `last_per_subject`, `new`, … as the consumer config names them.
    var deliverPolicy = "all"

    /// Calls `each` with every message and how many are still pending after it, until none is pending
    /// (`follow` false), or until `each` returns false or nothing came for `idle` seconds (`follow`).
    /// `ready` runs once the consumer exists (what is published after it is read).
    func read(follow: Bool, idle: Double, ready: () -> Void = {}, _ each: (NATSClient.Message, Int) throws -> Bool) throws {
        let client = api.client
        let inbox = "_INBOX.strata.read.\(UInt64.random(in: 1...UInt64.max))"
        let sid = try client.subscribe(inbox)
        var config: [String: Any] = ["deliver_subject": inbox, "deliver_policy": deliverPolicy, "ack_policy": "none",
                                     "replay_policy": "instant", "mem_storage": true]
        if let filter { config["filter_subject"] = filter }
        let created = try api.call("CONSUMER.CREATE." + stream, ["stream_name": stream, "config": config])
        let name = created["name"] as? String ?? ""
        defer {
            try? client.unsubscribe(sid)
            // (try?: a consumer left behind goes by itself: ephemeral, it is removed once it has no interest)
            _ = try? api.call("CONSUMER.DELETE.\(stream).\(name)")
        }
        ready()
        // Nothing to read: none pending and none delivered yet (deliveries may come before this reply).
        let delivered = (created["delivered"] as? [String: Any])?["consumer_seq"] as? Int ?? 0
        if !follow && (created["num_pending"] as? Int ?? 0) == 0 && delivered == 0 { return }
        while let message = try client.nextMessage(timeout: follow ? (idle > 0 ? idle : 3600 * 24) : api.options.timeout) {
            guard message.status == nil else { continue }  // (heartbeats, flow control: none are asked for)
            let pending = message.reply.flatMap { $0.split(separator: ".").last.flatMap { Int($0) } } ?? 0
            guard try each(message, pending) else { return }
            if !follow && pending == 0 { return }
        }
        if !follow { throw OnlineFailure("timeout reading \(stream)") }
    }
}
