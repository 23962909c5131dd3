#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Logging
import NATSProtocol
import NIOCore
import NIOPosix
import NIOSSL
import StreamStore
import Subjects
import Auth

/// A NATS server: accepts clients over TCP and routes their messages.
///
/// Start it with ``start()``; ``shutdown()`` stops accepting, flushes and closes every client, and stops the
/// event loops. Routing is through one shared ``Router``; a message is written to each matching
/// subscription's connection (one member per queue group).
public final class BrokerServer: @unchecked Sendable {
    /// The configuration now in force (``reload(_:)`` replaces it); connections keep a copy of their own.
    public var configuration: BrokerConfiguration { settingsLock.withLock { current } }
    private let settingsLock = Lock()
    private var current: BrokerConfiguration
    /// `$JS.<domain>.API.`, when a JetStream domain is set: requests there are served as `$JS.API.`.
    let domainAPIPrefix: String?
    public let serverID: String
    let logger: Logger
    /// The global account (`$G`): every client when no accounts are configured, else those of
    /// `authorization { }`.
    let globalAccount: Account
    /// Every account by name, the global one included.
    let accounts: [String: Account]
    /// JetStream is on for the server (INFO's `jetstream`); which accounts have it is each account's.
    let hasJetStream: Bool
    /// The global account's subject space (tests and statistics).
    var router: Router { globalAccount.router }
    /// The TLS context for client connections, when TLS is configured.
    var tlsContext: NIOSSLContext? { settingsLock.withLock { currentTLS?.context } }
    /// The TLS settings and the context built from them (replaced together by a reload).
    private var currentTLS: (settings: TLSSettings, context: NIOSSLContext)?
    /// Runs work that would stall an event loop (bcrypt password checks).
    let blockingPool = NIOThreadPool(numberOfThreads: 1)
    /// The global account's JetStream, when it has it.
    var jetStream: JetStreamService? { globalAccount.jetStream }
    let group: MultiThreadedEventLoopGroup
    private var serverChannel: Channel?
    private let lock = Lock()
    private var clients: [UInt64: ClientConnection] = [:]
    private var nextClientID: UInt64 = 0
    private var slowConsumers = 0
    /// What closed connections received and were sent (monitoring's totals add the open ones').
    private var closedReceived = MessageCount(), closedSent = MessageCount()
    /// When the server started and when its configuration was last loaded (monitoring).
    let startedAt = Date()
    private(set) var configLoadedAt = Date()
    private(set) var boundPort = 0
    /// The monitoring ports' servers (`http_port`, `https_port`).
    /// Opened before this server (and attached once its client port listens), or by `start`.
    private var monitoring: MonitoringPorts?
    private var ownMonitoring: [MonitoringServer] = []
    /// One per `leafnodes { remotes }` entry: keeps this server connected to that hub as a leaf.
    private(set) var leafSolicitors: [LeafSolicitor] = []
    /// The leaf-node port (the hub role), and the leaves connected to it once they are bound to an account.
    private var leafChannel: Channel?
    private var acceptedLeaves: [UInt64: LeafConnection] = [:]
    private(set) var leafPort = 0
    /// TLS on the leaf-node port, and each remote's client context (nil: plain TCP unless the hub requires
    /// TLS), built when the server starts so that a bad file stops it with its path.
    let leafTLSContext: NIOSSLContext?
    private let leafRemoteTLS: [NIOSSLContext?]

    /// Checks the configuration and opens every account's JetStream (recovering its streams). `monitoring`,
    /// when given, was opened before (so that it answers while this runs) and is attached at `start`.
    public init(configuration: BrokerConfiguration, logger: Logger = Logger(label: "strata"), monitoring: MonitoringPorts? = nil) throws {
        self.monitoring = monitoring
        if let problem = configuration.auth.validate() { throw ConfigurationError(problem) }
        self.currentTLS = try configuration.tls.map { ($0, try TLSContextFactory.make($0)) }
        self.leafTLSContext = try configuration.leafNodes.tls.map { try TLSContextFactory.make($0) }
        self.leafRemoteTLS = try configuration.leafNodes.remotes.map { remote in try remote.tls.map { try TLSContextFactory.makeClient($0) } }
        self.current = configuration
        self.domainAPIPrefix = configuration.jetStreamDomain.map { "$JS.\($0).API." }
        self.logger = logger
        self.serverID = "N" + UUID().uuidString.replacing("-", with: "").uppercased()
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        if let problem = AccountSettings.validate(configuration.accounts) { throw ConfigurationError(problem) }
        for user in configuration.leafNodes.authorization?.users ?? [] where user.account != AuthConfiguration.globalAccount {
            guard configuration.accounts.contains(where: { $0.name == user.account }) else {
                throw ConfigurationError("leafnode user \(user.name) is bound to account \(user.account), which is not configured")
            }
        }
        for remote in configuration.leafNodes.remotes {
            if let account = remote.account, account != AuthConfiguration.globalAccount,
               !configuration.accounts.contains(where: { $0.name == account }) {
                throw ConfigurationError("leafnode remote \(remote.urls.map(\.description).joined(separator: ", ")) is bound to account \(account), which is not configured")
            }
        }
        if configuration.httpsPort != nil && configuration.tls == nil {
            throw ConfigurationError("TLS configuration is required for https monitoring (https_port)")
        }
        let sync: StreamConfig.SyncPolicy
        switch configuration.jetStreamSync {
        case "none": sync = .none
        case let text where text.hasPrefix("interval:"): sync = .interval(milliseconds: Int(text.dropFirst(9).dropLast(2)) ?? 100)
        default: sync = .always
        }
        let directory = configuration.jetStream ? configuration.storeDirectory : nil
        hasJetStream = directory != nil
        /// An account's JetStream: the global account's in the store directory itself (the layout of a store
        /// without accounts), another's in `accounts/<name>/` under it.
        let fileSystem = directory == nil ? POSIXFileSystem() : InjectedFaults.fileSystem(logger: logger)
        let openStreams = OpenStreamBudget(maxOpen: configuration.jetStreamMaxOpenStreams)
        func jetStream(for name: String, limits: AccountSettings.JetStreamLimits) throws -> JetStreamService? {
            guard let directory else { return nil }
            let root = name == AuthConfiguration.globalAccount ? directory : directory + "/accounts/" + name
            return try JetStreamService(storeDirectory: root, sync: sync, maxMemoryStore: configuration.maxMemoryStore,
                                        maxFileStore: configuration.maxFileStore, accountLimits: limits, fileSystem: fileSystem,
                                        openStreams: openStreams)
        }
        // As nats-server 2.9: with accounts configured, only those with `jetstream` have it, the global
        // account none; without, the global account has it.
        let global: Account
        if configuration.accounts.isEmpty {
            global = Account(name: AuthConfiguration.globalAccount,
                             jetStream: try jetStream(for: AuthConfiguration.globalAccount, limits: .init()), jetStreamRefused: false)
        } else {
            global = Account(name: AuthConfiguration.globalAccount, jetStream: nil, jetStreamRefused: hasJetStream)
        }
        var accounts = [global.name: global]
        for settings in configuration.accounts {
            let service = try settings.jetStream.flatMap { try jetStream(for: settings.name, limits: $0) }
            accounts[settings.name] = Account(name: settings.name, jetStream: service, jetStreamRefused: hasJetStream && service == nil)
        }
        for settings in configuration.accounts {
            let importer = accounts[settings.name]!
            for item in settings.imports {
                let exporter = accounts[item.account]!  // (validated above)
                switch item.kind {
                case .service: importer.addServiceImport(local: item.localSubject, subject: item.subject, from: exporter)
                case .stream: exporter.addStreamImporter(filter: item.subject, importer: importer, prefix: item.prefix, to: item.to)
                }
            }
        }
        self.globalAccount = global
        self.accounts = accounts
    }

    /// The account a user authenticated into (the global one for a name no account has).
    func account(named name: String) -> Account { accounts[name] ?? globalAccount }

    public var serverName: String { configuration.serverName ?? serverID }

    /// Binds and starts accepting clients; returns the port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        blockingPool.start()
        for account in accounts.values {
            guard let jetStream = account.jetStream else { continue }
            jetStream.send = { [weak self, unowned account] messages in self?.routeInternal(messages, in: account) }
            jetStream.hasInterest = { [unowned account] subject in !account.router.matches(subject).isEmpty }
            jetStream.deliveryBacklog = { [unowned account] subject in
                let matches = account.router.matches(subject)
                return (matches.plain + matches.groups.joined()).reduce(0) {
                    max($0, $1.client?.unwrittenBytes ?? $1.leaf?.unwrittenBytes ?? 0)
                }
            }
            jetStream.sourcingLink = StreamSourcing.Link(
                subscribe: { [unowned account] subject, receiver in
                    let subscription = Subscription(router: account.router, subject: subject, receiver: receiver)
                    account.router.add(subscription)
                    return subscription
                },
                unsubscribe: { [unowned account] subscription in account.router.remove(subscription) },
                publish: { [weak self, unowned account] subject, reply, payload in
                    self?.publishInternal(subject: subject, reply: reply, payload: payload, in: account)
                },
                loop: group.next())
            jetStream.logger = logger
            jetStream.domain = configuration.jetStreamDomain
            jetStream.streams.changed = { [unowned account] in
                for leaf in account.leafConnections { leaf.jetStreamChanged() }
            }
            let owner = account.name == AuthConfiguration.globalAccount ? "" : " of account \(account.name)"
            jetStream.start(owner: owner)
        }
        let maxPending = configuration.maxPending
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: ClientConnection.waterMark(maxPending: maxPending))
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientConnection(id: self.newClientID(), server: self))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel = channel
        boundPort = channel.localAddress?.port ?? configuration.port
        logger.info("listening for client connections on \(configuration.host):\(boundPort)")
        logger.info("server id \(serverID), name \(serverName), version 2.9.10 (strata)")
        if let monitoring {
            monitoring.attach(self)
        } else {
            ownMonitoring = try await MonitoringPorts.open(configuration: configuration, tls: tlsContext, group: group, logger: logger)
            for server in ownMonitoring { server.attach(self) }
        }
        if configuration.auth.hasPlaintextPasswords { logger.warning("Plaintext passwords detected, use nkeys or bcrypt") }
        if let listen = configuration.leafNodes.listen {
            let leafBootstrap = ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: maxPending / 2, high: maxPending))
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(LeafConnection(acceptedID: self.newClientID(), server: self))
                    }
                }
            let leafChannel = try await leafBootstrap.bind(host: listen.host, port: listen.port).get()
            self.leafChannel = leafChannel
            leafPort = leafChannel.localAddress?.port ?? listen.port
            logger.info("listening for leafnode connections on \(listen.host):\(leafPort)")
        }
        leafSolicitors = zip(configuration.leafNodes.remotes, leafRemoteTLS).map { remote, tls in
            LeafSolicitor(remote: remote, account: account(named: remote.account ?? AuthConfiguration.globalAccount), server: self,
                          group: group, reconnectInterval: configuration.leafNodes.reconnectInterval, tls: tls, logger: logger)
        }
        for solicitor in leafSolicitors { solicitor.start() }
        return boundPort
    }

    /// Stops accepting, closes every client after flushing, and stops the event loops.
    public func shutdown() async {
        logger.info("shutting down")
        // (try?: a listener already closed, or loops already stopped, leave nothing to undo)
        try? await serverChannel?.close()
        try? await leafChannel?.close()
        for solicitor in leafSolicitors { solicitor.stop() }
        for leaf in lock.withLock({ Array(acceptedLeaves.values) }) { leaf.closeFromAnyThread() }
        for monitor in ownMonitoring { await monitor.stop() }
        await monitoring?.close()
        let connections = lock.withLock { Array(clients.values) }
        for client in connections { client.closeFromAnyThread() }
        // Mirrors and sources stop before the loops they run on.
        for account in accounts.values { account.jetStream?.stop() }
        // (try?: event loops that already stopped leave nothing to undo)
        try? await group.shutdownGracefully()
        try? await blockingPool.shutdownGracefully()
        for account in accounts.values {
            guard let jetStream = account.jetStream else { continue }
            // Consumers' unsaved state is queued before the streams close; closing drains and syncs it.
            jetStream.flushConsumers()
            jetStream.streams.closeAll()
        }
    }

    // MARK: Clients

    private func newClientID() -> UInt64 { lock.withLock { nextClientID += 1; return nextClientID } }
    /// Leaf connections are numbered with clients (nats-server's `cid` covers both).
    func newLeafID() -> UInt64 { newClientID() }

    /// A leaf accepted on the leaf-node port is bound to its account: one from the same server in the same
    /// account replaces it (nats-server's `DuplicateRemoteLeafnodeConnection`).
    func registerAccepted(_ leaf: LeafConnection) {
        let old: LeafConnection? = lock.withLock {
            let old = acceptedLeaves.values.first { $0 !== leaf && $0.remoteName == leaf.remoteName && $0.account === leaf.account }
            if let old { acceptedLeaves[old.id] = nil }
            acceptedLeaves[leaf.id] = leaf
            return old
        }
        if let old {
            logger.warning("leafnode \(leaf.remoteName ?? "?") connected again: replacing its earlier connection")
            old.closeAsDuplicate()
        }
    }

    func unregisterAccepted(_ leaf: LeafConnection) { _ = lock.withLock { acceptedLeaves.removeValue(forKey: leaf.id) } }

    /// The leaves connected to this server's leaf-node port.
    var acceptedLeafConnections: [LeafConnection] { lock.withLock { Array(acceptedLeaves.values) } }
    func register(_ client: ClientConnection) { lock.withLock { clients[client.id] = client } }
    /// (On the client's loop: its counters are read there.)
    func unregister(_ client: ClientConnection, ended: ConnectionSnapshot? = nil) {
        let received = client.received, sent = client.sent
        lock.withLock {
            clients[client.id] = nil
            closedReceived += received
            closedSent += sent
            if let ended {
                closed.append(ended)
                if closed.count > Self.closedKept { closed.removeFirst(closed.count - Self.closedKept) }
            }
        }
    }

    /// The most recently closed connections, oldest first (nats-server keeps 10,000 by default).
    private var closed: [ConnectionSnapshot] = []
    static let closedKept = 10_000

    /// Every open connection as its own loop sees it, with the closed connections' totals and the number
    /// of connections ever accepted.
    func connectionSnapshots() -> EventLoopFuture<(open: [ConnectionSnapshot], closed: [ConnectionSnapshot], closedReceived: MessageCount, closedSent: MessageCount, total: UInt64)> {
        let (connections, closed, received, sent, total) = lock.withLock { (Array(clients.values), self.closed, closedReceived, closedSent, nextClientID) }
        let loop = group.next()
        let futures = connections.compactMap { client in client.channel.map { $0.eventLoop.submit { client.snapshot() } } }
        return EventLoopFuture.whenAllComplete(futures, on: loop).map { results in
            let open = results.compactMap { try? $0.get() }.sorted { $0.id < $1.id }
            return (open, closed, received, sent, total)
        }
    }
    func countSlowConsumer() { lock.withLock { slowConsumers += 1 } }
    var clientCount: Int { lock.withLock { clients.count } }

    /// Puts a reloaded configuration in force without dropping connections: new connections take it, and
    /// every connection takes its limits and authorization (one that no longer authorizes is closed, as
    /// nats-server does). Throws, changing nothing, when an option that cannot change while running
    /// differs (``ConfigurationReload``).
    public func reload(_ configuration: BrokerConfiguration) throws {
        let unchangeable = ConfigurationReload.unchangeable(from: self.configuration, to: configuration)
        guard unchangeable.isEmpty else {
            throw ConfigurationError("config reload not supported for \(unchangeable.joined(separator: ", ")): restart the server to change it")
        }
        // New certificates are read before anything changes: a reload whose files cannot be used is refused.
        let existing = settingsLock.withLock { currentTLS }
        let tls = try configuration.tls.map { settings in
            if let existing, existing.settings == settings { return existing }
            return (settings, try TLSContextFactory.make(settings))
        }
        settingsLock.withLock {
            current = configuration
            currentTLS = tls
            configLoadedAt = Date()
        }
        let connections = lock.withLock { Array(clients.values) }
        for client in connections { client.reconfigureFromAnyThread(configuration) }
    }

    /// Connected clients and slow consumers cut off so far.
    public var statistics: (clients: Int, subscriptions: Int, slowConsumers: Int) {
        let subscriptions = accounts.values.reduce(0) { $0 + $1.router.count }
        return lock.withLock { (clients.count, subscriptions, slowConsumers) }
    }
}
