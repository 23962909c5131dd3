import Foundation

/// What a server listens on and how it treats clients. Defaults are nats-server's.
public struct BrokerConfiguration: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 4222
    public var serverName: String?
    public var maxPayload = 1 << 20
    public var maxControlLine = 4096
    /// Bytes a client may have waiting to be written before it is cut off as a slow consumer.
    public var maxPending = 64 << 20
    /// Bytes of one connection's stream publishes that may wait for their stores before the server stops
    /// reading from it (resuming at half); and bytes queued for one stream's writer at which every
    /// connection publishing to it pauses the same way (``PublishWindow``).
    public var maxPublishBytesInFlight = 4 << 20
    public var maxStreamQueueBytes = 8 << 20
    /// How often the server PINGs a client, and how many unanswered PINGs make it stale.
    public var pingInterval: TimeAmountSeconds = 120
    public var maxPingsOut = 2
    /// Authentication: a token, or a user and password (at most one of the two).
    public var authToken: String?
    public var user: String?
    public var password: String?
    /// JetStream storage (the API itself arrives with the JetStream issue).
    public var jetStream = false
    /// How JetStream file streams sync (Specs/WritePath.md): always (default: sync before the pub ack),
    /// none, or interval in milliseconds.
    public var jetStreamSync = "always"
    /// Server-wide JetStream limits in bytes (config file `jetstream { max_memory_store, max_file_store }`);
    /// -1 = unlimited.
    public var maxMemoryStore: Int64 = -1
    public var maxFileStore: Int64 = -1
    public var storeDirectory: String?
    /// I/O threads: half the cores (one on 2 cores, where it measured best: no cross-thread hops, a core left
    /// for storage writers and co-located clients).
    public var eventLoopThreads = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    public typealias TimeAmountSeconds = Double

    public init() {}

    public var authRequired: Bool { authToken != nil || user != nil }
}

extension BrokerConfiguration {
    /// Reads a JSON config file (format in the README):
    /// `{"host","port","server_name","max_payload","max_control_line","max_pending","ping_interval",
    ///   "ping_max","authorization":{"token"|"user","password"},
    ///   "jetstream":{"store_dir","max_memory_store","max_file_store"}}`.
    public static func load(path: String) throws -> BrokerConfiguration {
        struct File: Decodable {
            struct Authorization: Decodable { var token: String?; var user: String?; var password: String? }
            struct JetStream: Decodable { var store_dir: String?; var max_memory_store: Int64?; var max_file_store: Int64? }
            var host: String?; var port: Int?; var server_name: String?; var max_payload: Int?
            var max_control_line: Int?; var max_pending: Int?; var ping_interval: Double?; var ping_max: Int?
            var authorization: Authorization?; var jetstream: JetStream?
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read config file \(path)")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw ConfigurationError("config file \(path) is not valid: \(error)")
        }
        var c = BrokerConfiguration()
        c.host = file.host ?? c.host
        c.port = file.port ?? c.port
        c.serverName = file.server_name
        c.maxPayload = file.max_payload ?? c.maxPayload
        c.maxControlLine = file.max_control_line ?? c.maxControlLine
        c.maxPending = file.max_pending ?? c.maxPending
        c.pingInterval = file.ping_interval ?? c.pingInterval
        c.maxPingsOut = file.ping_max ?? c.maxPingsOut
        c.authToken = file.authorization?.token
        c.user = file.authorization?.user
        c.password = file.authorization?.password
        if let js = file.jetstream {
            c.jetStream = true
            c.storeDirectory = js.store_dir
            c.maxMemoryStore = js.max_memory_store ?? -1
            c.maxFileStore = js.max_file_store ?? -1
        }
        return c
    }
}

/// A configuration that cannot be used, with why.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
