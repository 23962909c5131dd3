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
    private let domainAPIPrefix: String?
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
    private let group: MultiThreadedEventLoopGroup
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

    /// Checks the configuration and opens every account's JetStream (recovering its streams). `monitoring`,
    /// when given, was opened before (so that it answers while this runs) and is attached at `start`.
    public init(configuration: BrokerConfiguration, logger: Logger = Logger(label: "strata"), monitoring: MonitoringPorts? = nil) throws {
        self.monitoring = monitoring
        if let problem = configuration.auth.validate() { throw ConfigurationError(problem) }
        self.currentTLS = try configuration.tls.map { ($0, try TLSContextFactory.make($0)) }
        self.current = configuration
        self.domainAPIPrefix = configuration.jetStreamDomain.map { "$JS.\($0).API." }
        self.logger = logger
        self.serverID = "N" + UUID().uuidString.replacing("-", with: "").uppercased()
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        if let problem = AccountSettings.validate(configuration.accounts) { throw ConfigurationError(problem) }
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
            jetStream.logger = logger
            jetStream.domain = configuration.jetStreamDomain
            let owner = account.name == AuthConfiguration.globalAccount ? "" : " of account \(account.name)"
            jetStream.start(owner: owner)
        }
        let maxPending = configuration.maxPending
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: maxPending / 2, high: maxPending))
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
        return boundPort
    }

    /// Stops accepting, closes every client after flushing, and stops the event loops.
    public func shutdown() async {
        logger.info("shutting down")
        // (try?: a listener already closed, or loops already stopped, leave nothing to undo)
        try? await serverChannel?.close()
        for monitor in ownMonitoring { await monitor.stop() }
        await monitoring?.close()
        let connections = lock.withLock { Array(clients.values) }
        for client in connections { client.closeFromAnyThread() }
        // (try?: event loops that already stopped leave nothing to undo)
        try? await group.shutdownGracefully()
        try? await blockingPool.shutdownGracefully()
        for account in accounts.values {
            guard let jetStream = account.jetStream else { continue }
            // Consumers' unsaved state is queued before the streams close; closing drains and syncs it.
            jetStream.stop()
            jetStream.flushConsumers()
            jetStream.streams.closeAll()
        }
    }

    // MARK: Clients

    private func newClientID() -> UInt64 { lock.withLock { nextClientID += 1; return nextClientID } }
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

    // MARK: Routing

    /// Delivers a published message to every plain subscription and one member of each queue group.
    /// Returns whether anything took it: a subscription, a stream, or JetStream (its API, or a consumer
    /// for a pull request or an ack). The caller answers a request nothing took with no responders.
    @discardableResult
    func route(_ publish: Publish, from publisher: ClientConnection) -> Bool {
        route(publish, in: publisher.account, from: publisher, crossings: 0)
    }

    /// Routes `publish` in `account`: the publisher's own, or one an import carried it into (`crossings`
    /// counts those hops; nats-server refuses import cycles, this stops at four).
    private func route(_ publish: Publish, in account: Account, from publisher: ClientConnection, crossings: Int) -> Bool {
        var taken = false
        let router = account.router
        let home = crossings == 0
        if let domainAPIPrefix, publish.subject.hasPrefix(domainAPIPrefix) {
            var local = publish
            local.subject = "$JS.API." + publish.subject.dropFirst(domainAPIPrefix.count)
            return route(local, in: account, from: publisher, crossings: crossings)
        }
        if let response = account.takeResponse(publish.subject) {
            // The one response to a request that came in through a service import: to the requester.
            var crossed = publish
            crossed.subject = response.reply
            return crossings < 4 && route(crossed, in: response.importer, from: publisher, crossings: crossings + 1)
        }
        if account.shares && crossings < 4 { taken = routeAcross(publish, from: account, publisher: publisher, crossings: crossings) }
        if account.jetStreamRefused, publish.subject.utf8.first == UInt8(ascii: "$"), publish.subject.hasPrefix("$JS.API.") {
            if let reply = publish.reply { routeInternal(subject: reply, payload: JetStreamService.notEnabledResponse(publish.subject), in: account) }
            return true
        }
        if let jetStream = account.jetStream {
            // (One byte decides for nearly every message that it is none of JetStream's own subjects.)
            let isJetStreamSubject = publish.subject.utf8.first == UInt8(ascii: "$") && publish.subject.hasPrefix("$JS.")
            if isJetStreamSubject && publish.subject.hasPrefix("$JS.API.CONSUMER.MSG.NEXT.") {
                // Pull requests are served at once, on the requester's loop (no task hop).
                let tokens = publish.subject.subjectTokens().dropFirst(2).map(String.init)
                jetStream.pullRequest(tokens, body: Data(publish.payload.readableBytesView), reply: publish.reply)
                taken = true  // (the reference's `$JS.API.>` dispatcher takes it, consumer or not)
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.API.") {
                let reply = publish.reply
                Task {
                    let json = await jetStream.handle(subject: publish.subject, payload: publish.payload, reply: reply)
                    if let reply, let json { self.routeInternal(subject: reply, payload: json, in: account) }
                }
                taken = true
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.ACK.") {
                // Applied here, on the publisher's loop: acks are the hot path of consumption.
                var confirm: (@Sendable () -> Void)?
                if let reply = publish.reply { confirm = { self.routeInternal(subject: reply, payload: "", in: account) } }
                func acknowledge(_ cache: inout JetStreamService.AckTargetCache) -> Bool {
                    jetStream.acknowledge(subject: publish.subject, body: publish.payload, confirm: confirm,
                                          deferDelivery: { host in publisher.deliverAfterRead(host) },
                                          deferAck: { host, sequence in publisher.acknowledgeAfterRead(host, sequence) },
                                          cache: &cache)
                }
                if home {
                    taken = acknowledge(&publisher.ackTarget)
                } else {
                    var elsewhere = JetStreamService.AckTargetCache()  // (the connection's cache is its own account's)
                    taken = acknowledge(&elsewhere)
                }
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.FC.") {
                jetStream.flowControlAnswered(publish.subject)
                taken = true
            } else if let stream = jetStream.streams.stream(capturing: publish.subject) {
                publisher.capture(publish, for: stream, in: jetStream)  // stored with the rest of this read's publishes
                taken = true
            }
        }
        let matches: Router.Matches
        let version = router.version
        if home, let last = publisher.lastRoute, last.version == version, last.subject == publish.subject {
            matches = last.matches
        } else {
            matches = router.matches(publish.subject)
            if home && !matches.isEmpty { publisher.lastRoute = (publish.subject, version, matches) }
        }
        guard !matches.isEmpty else { return taken }
        let echo = publisher.echo
        for subscription in matches.plain where echo || subscription.client !== publisher {
            if deliver(publish, to: subscription, from: publisher) { taken = true }
        }
        for group in matches.groups {
            let candidates = echo ? group : group.filter { $0.client !== publisher }
            if let chosen = candidates.randomElement(using: &publisher.random) {
                if deliver(publish, to: chosen, from: publisher) { taken = true }
            }
        }
        return taken
    }

    /// What a service import or a stream import carries from `account` to others: returns whether any
    /// subscription took it.
    private func routeAcross(_ publish: Publish, from account: Account, publisher: ClientConnection, crossings: Int) -> Bool {
        var taken = false
        if let (subject, exporter) = account.serviceImport(for: publish.subject) {
            var crossed = publish
            crossed.subject = subject
            if let reply = publish.reply { crossed.reply = exporter.openResponse(to: reply, in: account) }
            taken = route(crossed, in: exporter, from: publisher, crossings: crossings + 1) || taken
        }
        for item in account.streamImporters where Subject.matches(publish.subject, filter: item.filter) {
            var crossed = publish
            crossed.subject = SubjectMapping.imported(publish.subject, filter: item.filter, prefix: item.prefix, to: item.to)
            taken = route(crossed, in: item.importer, from: publisher, crossings: crossings + 1) || taken
        }
        return taken
    }

    /// Publishes a message from the server itself (API replies, pub acks) in the global account; safe from
    /// any thread.
    func routeInternal(subject: String, payload: String, in account: Account? = nil) {
        routeInternal([OutboundMessage(to: subject, payload: ByteBuffer(string: payload))], in: account)
    }

    /// Sends messages from the server, each routed by its `to` and shown with its own subject (JetStream
    /// deliveries go to an inbox under the stream message's subject). Safe from any thread. The messages
    /// for one connection are encoded together and handed to it in one piece, in order.
    func routeInternal(_ messages: [OutboundMessage], in account: Account? = nil) {
        let account = account ?? globalAccount
        let router = account.router
        var messages = messages
        // JetStream's advisories are stored by the streams that capture them (as the reference does).
        if let jetStream = account.jetStream, messages.contains(where: { JetStreamService.isEvent($0.to) }) {
            jetStream.capture(events: messages, on: group.next())
        }
        // JetStream's replies to requests that came in through a service import go back to the requester.
        if let i = messages.firstIndex(where: { $0.to.utf8.first == UInt8(ascii: "_") && $0.to.hasPrefix(Account.responsePrefix) }) {
            var crossing: [(Account, OutboundMessage)] = []
            messages = messages[..<i] + messages[i...].filter { message in
                guard let response = account.takeResponse(message.to) else { return true }
                var crossed = message
                crossed.to = response.reply
                crossed.subject = response.reply
                crossed.oneOff = true
                crossing.append((response.importer, crossed))
                return false
            }
            for (importer, message) in crossing { routeInternal([message], in: importer) }
        }
        var batches: [ObjectIdentifier: (client: ClientConnection, buffer: ByteBuffer, count: MessageCount)] = [:]
        var previous: (to: String, matches: Router.Matches)?
        for message in messages {
            // A consumer's deliveries share one subject: it is matched once for the batch.
            let matches: Router.Matches
            if let previous, previous.to == message.to {
                matches = previous.matches
            } else {
                matches = router.matches(message.to, cache: !message.oneOff)
                previous = (message.to, matches)
            }
            guard !matches.isEmpty else { continue }
            var targets = matches.plain
            for group in matches.groups { if let chosen = group.randomElement() { targets.append(chosen) } }
            for subscription in targets {
                guard subscription.admits(message.to, reply: message.reply) else { continue }
                let (deliver, last) = subscription.claimDelivery()
                if deliver {
                    let key = ObjectIdentifier(subscription.client)
                    if batches[key] == nil { batches[key] = (subscription.client, ByteBufferAllocator().buffer(capacity: 512), MessageCount()) }
                    let headers = subscription.receivesHeaders ? message.headers : nil
                    ServerEncoder.message(subject: message.subject, sid: subscription.sid, reply: message.reply,
                                          headers: headers, payload: message.payload, into: &batches[key]!.buffer)
                    batches[key]!.count.add(bytes: message.payload.readableBytes &+ (headers?.readableBytes ?? 0))
                }
                if last {
                    subscription.router.remove(subscription)
                    let client = subscription.client
                    client.channel?.eventLoop.execute { client.remove(subscription) }
                }
            }
        }
        for (_, batch) in batches { batch.client.deliverEncoded(batch.buffer, count: batch.count) }
    }

    /// Delivers to one subscription; false when its deny filter keeps the message from it.
    @discardableResult
    private func deliver(_ publish: Publish, to subscription: Subscription, from publisher: ClientConnection) -> Bool {
        guard subscription.admits(publish.subject, reply: publish.reply) else { return false }
        let (deliver, last) = subscription.claimDelivery()
        if deliver { subscription.client.deliver(publish, to: subscription, from: publisher) }
        if last {
            subscription.router.remove(subscription)
            let client = subscription.client
            client.channel?.eventLoop.execute { client.remove(subscription) }
        }
        return true
    }
}
