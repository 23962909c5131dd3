import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

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
    /// Connections served at once; one more is refused with `maximum connections exceeded` (nats-server's 64K).
    public var maxConnections = 64 * 1024
    /// Seconds a write to a client may stay incomplete before it is cut off as a slow consumer.
    public var writeDeadline: TimeAmountSeconds = 10
    /// Logging: debug and trace levels, timestamps on each line, a file instead of standard error, and a
    /// file the process id is written to while the server runs.
    public var debug = false
    public var trace = false
    public var logTime = true
    public var logFile: String?
    public var pidFile: String?
    /// Authentication and permissions (`authorization { }`, `no_auth_user`, `--user`, `--pass`, `--auth`).
    public var auth = AuthConfiguration()
    /// The accounts of `accounts { }`; empty: every client is in the global account, which has JetStream
    /// when the server does. With accounts, only those with `jetstream` have it (as nats-server 2.9).
    public var accounts: [AccountSettings] = []
    /// The monitoring port (`http_port`, `http: host:port`, `-m`); nil: none. Its host defaults to the
    /// client listener's.
    public var httpPort: Int?
    public var httpHost: String?
    /// HTTPS monitoring (`https_port`, `https: host:port`, `-ms`), with the client listener's TLS settings.
    public var httpsPort: Int?
    /// TLS for client connections (`tls { }`, `--tls…` flags); nil: plain TCP.
    public var tls: TLSSettings?
    /// JetStream storage (the API itself arrives with the JetStream issue).
    public var jetStream = false
    /// How JetStream file streams sync (Specs/WritePath.md): always (default: sync before the pub ack),
    /// none, or interval in milliseconds.
    public var jetStreamSync = "always"
    /// How many file streams are kept open at once (config `jetstream { strata_max_open_streams }`,
    /// `--js_max_open_streams`); idle ones beyond it are closed and opened again on demand. Nil: from the
    /// open-file limit (``OpenStreamBudget/defaultMaxOpen(fileLimit:)``).
    public var jetStreamMaxOpenStreams: Int?
    /// Server-wide JetStream limits in bytes (config file `jetstream { max_memory_store, max_file_store }`);
    /// -1 = unlimited.
    public var maxMemoryStore: Int64 = -1
    public var maxFileStore: Int64 = -1
    public var storeDirectory: String?
    /// The JetStream domain (config `jetstream { domain }`): the API is also served at `$JS.<domain>.API.>`.
    public var jetStreamDomain: String?
    /// Leaf-node connections (`leafnodes { }`): the hubs this server joins as a leaf.
    public var leafNodes = LeafNodeSettings()
    /// I/O threads: half the cores (one on 2 cores, where it measured best: no cross-thread hops, a core left
    /// for storage writers and co-located clients).
    public var eventLoopThreads = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    public typealias TimeAmountSeconds = Double

    public init() {}

    public var authRequired: Bool { auth.required }

    /// Seconds a client has to send CONNECT when authentication is required: `authorization { timeout }`,
    /// else nats-server's default (2 s; with TLS, the TLS timeout plus one).
    public var authTimeout: Double { auth.timeout ?? tls.map { $0.timeout + 1 } ?? 2 }
}

/// A configuration that cannot be used, with why.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
