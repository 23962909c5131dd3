import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NATSProtocol
import NIOCore
import NIOSSL
import Platform
import Subjects

/// One leaf-node connection (nats-server's leaf-node protocol, `server/leafnode.go`), in either role:
/// - **spoke**: this server dialled a hub (``LeafSolicitor``); it waits for the hub's INFO and answers with
///   CONNECT (`LeafConnection+Solicited.swift`);
/// - **hub**: a leaf dialled this server's leaf-node port; it sends INFO, authenticates the leaf's CONNECT
///   and binds it to an account (`LeafConnection+Accepted.swift`).
///
/// Once established, both roles are alike: the connection declares the account's interest (its
/// subscriptions, its JetStream's subjects (``JetStreamInterest``) and the loop-detection subject) and
/// keeps the other side told of every change (it observes the account's ``Router``); the other side's
/// `LS+`/`LS-` become subscriptions in the account that forward over this connection, and its
/// `LMSG`/`HMSG` publishes routed in the account. A spoke declares its own clients' interest and that of
/// the leaves connected to it; a hub declares every subscription but the leaf's own. PINGs are answered and
/// sent; a connection that stops answering is closed.
///
/// Parsing and protocol state are on the channel's event loop; what other threads send (forwarded
/// messages, interest changes) is gathered under a lock and written in one hop. When the connection ends,
/// its subscriptions leave the router, and a spoke's ``LeafSolicitor`` connects again.
final class LeafConnection: ChannelInboundHandler, Publisher, InterestObserver, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: UInt64
    /// The account this connection serves: a spoke's from its remote, a hub's from the leaf's credentials
    /// (the global account until CONNECT is accepted).
    internal(set) var account: Account
    /// True when this server dialled the other side (it is the leaf), false when it accepted it (the hub).
    let isSpoke: Bool
    let routing: RoutingContext
    var echo: Bool { false }
    var eventLoop: EventLoop? { channel?.eventLoop }
    let server: BrokerServer
    // The spoke role's remote, the URL dialled and the solicitor to tell when the connection ends.
    let remote: LeafRemote?
    let url: LeafURL?
    weak var solicitor: LeafSolicitor?
    var logger: Logger

    enum Phase { case awaitingInfo, awaitingConnect, connecting, established, closed }
    // On the loop only (the role's handshake files use them too).
    var phase: Phase
    private(set) var channel: Channel?
    private var parser: LeafParser
    private var inbound: ByteBuffer?
    /// The other side's server name (or id), for the log and monitoring.
    var remoteName: String?
    /// The other side's JetStream domain (its INFO's or CONNECT's).
    var remoteDomain: String?
    /// A spoke: the hub's first INFO (its nonce) and the one that carried its permissions for this leaf.
    var hub: LeafHubInfo?
    var permissionsInfo: LeafHubInfo?
    /// A hub: the nonce its INFO carried.
    var nonce: String?
    private var remoteInterest: [LeafInterestKey: Subscription] = [:]
    var handshakeTimer: Scheduled<Void>?
    private var pingTask: RepeatedTask?
    private var pingsOutstanding = 0
    private var wasEstablished = false
    /// TLS was started on this connection.
    var usesTLS = false
    private(set) var received = MessageCount()

    /// What may cross; fixed when the connection is established, before anything reaches it from other
    /// threads (the router's lock orders that write before their reads).
    var permissions = LeafPermissions()

    // Shared with other threads, under `lock`.
    private let lock = Lock()
    private var interest = LeafInterest()
    private var declaredJetStream: Set<String> = []
    private var output: ByteBuffer?
    /// Written to the channel and not yet taken by the socket.
    private let inFlightBytes = UnwrittenBytes()
    private var flushScheduled = false
    private var open = true
    private var sentCount = MessageCount()
    /// Bytes waiting for the hop onto the loop beyond which the hub is cut off as a slow consumer.
    private let maxPending: Int

    /// A connection this server dials to `url` of `remote` (the spoke role).
    convenience init(id: UInt64, server: BrokerServer, solicitor: LeafSolicitor, remote: LeafRemote, url: LeafURL, account: Account) {
        self.init(id: id, server: server, account: account, remote: remote, url: url)
        self.solicitor = solicitor
    }

    /// A connection a leaf made to this server's leaf-node port (the hub role).
    convenience init(acceptedID id: UInt64, server: BrokerServer) {
        self.init(id: id, server: server, account: server.globalAccount, remote: nil, url: nil)
    }

    private init(id: UInt64, server: BrokerServer, account: Account, remote: LeafRemote?, url: LeafURL?) {
        self.id = id
        self.server = server
        self.remote = remote
        self.url = url
        self.account = account
        self.isSpoke = remote != nil
        self.phase = remote != nil ? .awaitingInfo : .awaitingConnect
        let config = server.configuration
        self.parser = LeafParser(maxControlLine: max(config.maxControlLine, 64 << 10), maxPayload: config.maxPayload)
        self.maxPending = config.maxPending
        self.routing = RoutingContext(seed: id &* 0xD1B5_4A32_D192_ED03,
                                      publishWindow: PublishWindow(limit: config.maxPublishBytesInFlight, streamQueueLimit: config.maxStreamQueueBytes))
        var logger = server.logger
        logger[metadataKey: "lid"] = "\(id)"
        if let url { logger[metadataKey: "remote"] = "\(url.hostPort)" }
        self.logger = logger
    }

    var sent: MessageCount { lock.withLock { sentCount } }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        if isSpoke {
            logger.info("leafnode connection created for account \(account.name)")
            startHandshakeTimer(seconds: LeafProtocol.infoWait)
        } else {
            if let remote = context.remoteAddress { logger[metadataKey: "remote"] = "\(remote.ipAddress ?? "?"):\(remote.port ?? 0)" }
            logger.info("leafnode connection accepted")
            sendInfo(context)
        }
    }

    /// Closes the connection if the handshake has not moved on within `seconds`.
    func startHandshakeTimer(seconds: Double) {
        handshakeTimer?.cancel()
        guard let loop = channel?.eventLoop else { return }
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        handshakeTimer = loop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) { loopBound.value.handshakeTimedOut() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        pingTask?.cancel()
        phase = .closed
        lock.withLock { open = false; output = nil }
        account.router.stopObserving(self)
        account.detach(self)
        for subscription in remoteInterest.values { account.router.remove(subscription) }
        remoteInterest.removeAll()
        if wasEstablished { logger.info("leafnode connection closed") }
        if !isSpoke { server.unregisterAccepted(self) }
        solicitor?.connectionEnded(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 { inbound = bytes } else { inbound!.writeBuffer(&bytes) }
        do {
            while phase != .closed, inbound != nil, let operation = try parser.next(from: &inbound!) { handle(operation) }
        } catch {
            if let text = error.errorText { sendError(text) }
            logger.error("leafnode protocol error: \(error)")
            close()
        }
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil } else { inbound?.discardReadBytes() }
        guard routing.hasReadWork else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        routing.finishRead(on: context.channel, account: account, logger: logger) { done in loopBound.value.publishesStored(done) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            // A failed handshake (an unknown CA, a name that does not match, plain text to a TLS port) or a peer
            // that closed without close_notify: this connection only.
            if phase == .established { logger.debug("leafnode TLS error: \(error)") } else { logger.error("leafnode TLS handshake error: \(error)") }
        } else {
            logger.debug("leafnode connection error: \(error)")
        }
        close()
    }

    private func publishesStored(_ bytes: Int) {
        if routing.publishWindow.completed(bytes), let channel {
            channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    // MARK: Protocol

    private func handle(_ operation: LeafOperation) {
        switch operation {
        case .info(let json):
            guard isSpoke else { return }  // (a leaf's INFO to its hub carries nothing the hub uses)
            guard let info = LeafHubInfo.decode(json) else {
                logger.error("leafnode INFO does not decode")
                close()
                return
            }
            received(info)
        case .ping:
            write { ServerEncoder.pong(into: &$0) }
        case .pong:
            pingsOutstanding = 0
        case .ok:
            break
        case .error(let text):
            logger.error("leafnode error from \(isSpoke ? "the hub" : "the leaf"): \(text)")
            if text.contains("Loop detected") { solicitor?.delayNextConnect(LeafProtocol.reconnectDelayAfterLoop) }
            close()
        case .connect(let json):
            guard !isSpoke, phase == .awaitingConnect else {
                logger.error("leafnode: unexpected CONNECT")
                close()
                return
            }
            received(connect: json)
        case .subscribe(let key, _):
            guard phase == .established else { return }
            subscribe(key)
        case .unsubscribe(let key):
            guard phase == .established, let subscription = remoteInterest.removeValue(forKey: key) else { return }
            account.router.remove(subscription)
        case .message(let message):
            guard phase == .established else { return }
            route(message)
        }
    }

    /// The handshake is done (`permissions` set): this account's interest is declared, and the other side's
    /// is taken from now on.
    func establish() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        phase = .established
        wasEstablished = true
        let configuration = server.configuration
        logger.info("leafnode connection \(isSpoke ? "to" : "from") \(remoteName ?? "?") established for account \(account.name)")
        account.attach(self)
        // The snapshot and the first burst of LS+ are made under the router's lock: every later change
        // reaches `interestChanged` after them.
        account.router.observe(self) { subscriptions in
            lock.withLock {
                var burst = ByteBufferAllocator().buffer(capacity: 256 + subscriptions.count * 32)
                for subscription in subscriptions where declares(subscription) {
                    _ = interest.change(subscription.interestKey, by: 1)
                }
                for subject in jetStreamSubjects() where permissions.declares(subject) {
                    declaredJetStream.insert(subject)
                    _ = interest.change(LeafInterestKey(subject: subject), by: 1)
                }
                _ = interest.change(LeafInterestKey(subject: account.loopDetectionSubject), by: 1)
                for (key, weight) in interest.all { LeafEncoder.subscribe(key, weight: weight, into: &burst) }
                appendLocked(burst)
            }
        }
        let interval = TimeAmount.nanoseconds(Int64(configuration.pingInterval * 1e9))
        if let loop = channel?.eventLoop {
            let loopBound = NIOLoopBound(self, eventLoop: loop)
            pingTask = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in loopBound.value.keepalive() }
        }
    }

    func jetStreamSubjects() -> Set<String> {
        guard let jetStream = account.jetStream else { return [] }
        return JetStreamInterest.subjects(streams: jetStream.streams.subjectsByStream, domain: server.configuration.jetStreamDomain)
    }

    /// The hub's interest in `key`: a subscription in this account that forwards here.
    private func subscribe(_ key: LeafInterestKey) {
        if key.subject == account.loopDetectionSubject {
            let text = "Loop detected for leafnode account=\"\(account.name)\". Delaying attempt to reconnect for 30s"
            logger.error("\(text)")
            sendError(text)
            solicitor?.delayNextConnect(LeafProtocol.reconnectDelayAfterLoop)
            close()
            return
        }
        guard remoteInterest[key] == nil, Subject.isValidFilter(key.subject), permissions.keepsInterest(in: key.subject) else { return }
        let subscription = Subscription(leaf: self, router: account.router, key: key)
        remoteInterest[key] = subscription
        account.router.add(subscription)
    }

    /// A message from the hub, routed in this account. A JetStream delivery (reply `$JS.ACK.…@subject`)
    /// is shown to subscribers under the subject after the `@`, as nats-server does.
    private func route(_ message: LeafMessage) {
        received.add(bytes: message.payload.readableBytes &+ (message.headers?.readableBytes ?? 0))
        guard permissions.accepts(message.subject) else { return }
        if let reply = message.reply, reply.hasPrefix("$JS.ACK."), let at = reply.lastIndex(of: "@"), reply.index(after: at) != reply.endIndex {
            let shown = String(reply[reply.index(after: at)...])
            server.routeInternal([OutboundMessage(to: message.subject, subject: shown, reply: String(reply[..<at]),
                                                  headers: message.headers, payload: message.payload)], in: account)
            return
        }
        server.route(message.publish, from: self, queues: message.queues)
    }

    /// What monitoring shows of this connection (on its loop).
    func snapshot() -> LeafSnapshot {
        let remote = channel?.remoteAddress
        return LeafSnapshot(id: id, name: remoteName ?? "", isSpoke: isSpoke, account: account.name, ip: remote?.ipAddress ?? "",
                            port: remote?.port ?? 0, received: received, sent: sent,
                            subscriptions: remoteInterest.keys.map(\.description).sorted())
    }

    /// Whether the handshake is done and the connection serves.
    var isEstablished: Bool { phase == .established }

    // MARK: Interest changes (any thread)

    /// Whether the other side is told of `subscription`: never its own interest; a spoke tells its hub of its
    /// clients' and its own leaves' interest (nats-server's `localSubs` with leaf hubs), a hub tells a leaf of
    /// everything else; and only what the permissions let cross.
    private func declares(_ subscription: Subscription) -> Bool {
        if let leaf = subscription.leaf {
            if leaf === self { return false }
            if isSpoke && leaf.isSpoke { return false }
        }
        return permissions.declares(subscription.subject)
    }

    func interestChanged(_ subscription: Subscription, delta: Int) {
        guard declares(subscription) else { return }
        lock.withLock {
            guard open, let update = interest.change(subscription.interestKey, by: delta) else { return }
            var buffer = ByteBufferAllocator().buffer(capacity: 64)
            encode(update, into: &buffer)
            appendLocked(buffer)
        }
    }

    /// The account's streams changed: their subjects are declared again (the difference only).
    func jetStreamChanged() {
        let subjects = Set(jetStreamSubjects().filter { permissions.declares($0) })
        lock.withLock {
            guard open else { return }
            var buffer = ByteBufferAllocator().buffer(capacity: 64)
            for subject in subjects.subtracting(declaredJetStream).sorted() {
                if let update = interest.change(LeafInterestKey(subject: subject), by: 1) { encode(update, into: &buffer) }
            }
            for subject in declaredJetStream.subtracting(subjects).sorted() {
                if let update = interest.change(LeafInterestKey(subject: subject), by: -1) { encode(update, into: &buffer) }
            }
            declaredJetStream = subjects
            if buffer.readableBytes > 0 { appendLocked(buffer) }
        }
    }

    private func encode(_ update: LeafInterest.Update, into buffer: inout ByteBuffer) {
        switch update {
        case .add(let key, let weight): LeafEncoder.subscribe(key, weight: weight, into: &buffer)
        case .remove(let key): LeafEncoder.unsubscribe(key, into: &buffer)
        }
    }

    // MARK: Sending (any thread)

    /// Sends a message routed here, for the hub's plain subscriptions and the queue groups named. False
    /// when it may not cross (a denied subject) or the connection is gone.
    func forward(_ publish: Publish, queues: [String]) -> Bool {
        guard permissions.sends(publish.subject) else { return false }
        return lock.withLock {
            guard open else { return false }
            // Encoded straight into what waits for the loop (one buffer for a run of messages).
            if output == nil { output = ByteBufferAllocator().buffer(capacity: 16 << 10) }
            LeafEncoder.message(subject: publish.subject, reply: publish.reply, queues: queues, headers: publish.headers,
                                payload: publish.payload, into: &output!)
            sentCount.add(bytes: publish.payload.readableBytes &+ (publish.headers?.readableBytes ?? 0))
            return appendedLocked()
        }
    }

    /// Whether a message on `subject` may be sent to the hub.
    func sends(_ subject: String) -> Bool { permissions.sends(subject) }

    /// Takes messages already encoded as LMSG/HMSG.
    @discardableResult
    func forwardEncoded(_ buffer: ByteBuffer, messages: Int = 0, bytes: Int = 0) -> Bool {
        lock.withLock {
            guard open else { return false }
            sentCount.messages &+= messages
            sentCount.bytes &+= bytes
            return appendLocked(buffer)
        }
    }

    /// Appends to what waits for the loop and schedules one write for all of it (the lock held).
    @discardableResult
    private func appendLocked(_ buffer: ByteBuffer) -> Bool {
        var buffer = buffer
        if output == nil { output = buffer } else { output!.writeBuffer(&buffer) }
        return appendedLocked()
    }

    /// After something was added to what waits: cuts a hub or leaf off that lets more than `max_pending`
    /// wait, else schedules one write for all of it (the lock held).
    private func appendedLocked() -> Bool {
        if output!.readableBytes > maxPending {
            output = nil
            open = false
            logger.warning("slow consumer: more than \(maxPending) bytes waiting for the hub, closing the leafnode connection")
            server.countSlowConsumer()
            channel?.eventLoop.execute { self.close() }
            return false
        }
        guard !flushScheduled, let channel else { return true }
        flushScheduled = true
        channel.eventLoop.execute { self.flush() }
        return true
    }

    /// Writes what waits (on the loop).
    private func flush() {
        let buffer: ByteBuffer? = lock.withLock {
            flushScheduled = false
            defer { output = nil }
            return output
        }
        guard let buffer, buffer.readableBytes > 0, let channel else { return }
        channel.writeAndFlush(buffer, promise: inFlightBytes.promise(forWriteOf: buffer.readableBytes, on: channel.eventLoop))
    }

    /// What waits for the loop and what the socket has not taken yet (safe from any thread; push consumers
    /// whose subscriber is across this link pace a backlog by it).
    var unwrittenBytes: Int {
        inFlightBytes.value + lock.withLock { output?.readableBytes ?? 0 }
    }

    /// Writes a protocol line from the loop, after what already waits.
    func write(_ body: (inout ByteBuffer) -> Void) {
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        body(&buffer)
        lock.withLock { _ = appendLocked(buffer) }
    }

    func sendError(_ text: String) { write { ServerEncoder.error(text, into: &$0) } }

    // MARK: Ending

    private func handshakeTimedOut() {
        switch phase {
        case .awaitingInfo: logger.error("no INFO from \(url?.hostPort ?? "?") within \(LeafProtocol.infoWait) s")
        case .connecting: logger.error("the hub did not answer CONNECT within \(LeafProtocol.connectProcessTimeout) s")
        case .awaitingConnect:
            logger.error("leafnode authentication timeout")
            sendError("Authentication Timeout")
        case .established, .closed: return
        }
        close()
    }

    private func keepalive() {
        if pingsOutstanding >= server.configuration.maxPingsOut {
            logger.info("stale leafnode connection: \(pingsOutstanding) PINGs unanswered, closing")
            close()
            return
        }
        pingsOutstanding += 1
        write { ServerEncoder.ping(into: &$0) }
    }

    /// Flushes what waits and closes (on the loop).
    func close() {
        guard phase != .closed, let channel else { return }
        phase = .closed
        flush()
        channel.close(promise: nil)
    }

    /// Another connection from the same leaf replaced this one.
    func closeAsDuplicate() {
        channel?.eventLoop.execute {
            self.sendError("Duplicate Remote LeafNode Connection")
            self.close()
        }
    }

    func closeFromAnyThread() {
        channel?.eventLoop.execute { self.close() }
    }
}
