#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// One client connection as monitoring sees it, taken on the connection's own event loop (so nothing on
/// the message path is locked or shared for it).
struct ConnectionSnapshot: Sendable {
    var id: UInt64
    var ip: String
    var port: Int
    var start: Date
    var lastActivity: Date
    var received: MessageCount
    var sent: MessageCount
    var pendingBytes: Int
    var subscriptions: [String]
    var name: String?
    var lang: String?
    var version: String?
    var user: String?
    var account: String
    var tls: Bool
    /// For a closed connection: when and why it ended.
    var stop: Date? = nil
    var reason: String? = nil
}
