import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NATSProtocol
import NIOCore
import Platform
import Subjects

/// One connection this server made to a hub as its leaf node (the spoke side of nats-server's leaf-node
/// protocol, `server/leafnode.go`). It
/// - waits for the hub's INFO, answers with CONNECT (credentials from the remote's URL), and once the hub
///   confirms (`connect_info`) declares this account's interest: its clients' subscriptions, its
///   JetStream's subjects (``JetStreamInterest``) and the loop-detection subject;
/// - keeps the hub told of every change to that interest (it observes the account's ``Router``);
/// - turns the hub's `LS+`/`LS-` into subscriptions in the account's router that forward over this
///   connection, and the hub's `LMSG`/`HMSG` into publishes routed in the account;
/// - answers PINGs and pings the hub, closing when it stops answering.
///
/// Parsing and protocol state are on the channel's event loop; what other threads send (forwarded
/// messages, interest changes) is gathered under a lock and written in one hop. When the connection ends,
/// its subscriptions leave the router and the ``LeafSolicitor`` connects again.
final class LeafConnection: ChannelInboundHandler, Publisher, InterestObserver, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: UInt64
    let account: Account
    let url: LeafURL
    let routing: RoutingContext
    var echo: Bool { false }
    var eventLoop: EventLoop? { channel?.eventLoop }
    private let server: BrokerServer
    private weak var solicitor: LeafSolicitor?
    private let remote: LeafRemote
    private var logger: Logger

    private enum Phase { case awaitingInfo, connecting, established, closed }
    // On the loop only.
    private var phase = Phase.awaitingInfo
    private(set) var channel: Channel?
    private var parser: LeafParser
    private var inbound: ByteBuffer?
    private(set) var hub: LeafHubInfo?
    /// The INFO that carried the hub's permissions for this leaf (its answer to CONNECT).
    private var permissionsInfo: LeafHubInfo?
    private var remoteInterest: [LeafInterestKey: Subscription] = [:]
    private var handshakeTimer: Scheduled<Void>?
    private var pingTask: RepeatedTask?
    private var pingsOutstanding = 0
    private var wasEstablished = false
    private(set) var received = MessageCount()
    let startedAt = Date()

    /// What may cross; fixed when the connection is established, before anything reaches it from other
    /// threads (the router's lock orders that write before their reads).
    private(set) var permissions = LeafPermissions()

    // Shared with other threads, under `lock`.
    private let lock = Lock()
    private var interest = LeafInterest()
    private var declaredJetStream: Set<String> = []
    private var output: ByteBuffer?
    private var flushScheduled = false
    private var open = true
    private var sentCount = MessageCount()
    /// Bytes waiting for the hop onto the loop beyond which the hub is cut off as a slow consumer.
    private let maxPending: Int

    init(id: UInt64, server: BrokerServer, solicitor: LeafSolicitor, remote: LeafRemote, url: LeafURL, account: Account) {
        self.id = id
        self.server = server
        self.solicitor = solicitor
        self.remote = remote
        self.url = url
        self.account = account
        let config = server.configuration
        self.parser = LeafParser(maxControlLine: max(config.maxControlLine, 64 << 10), maxPayload: config.maxPayload)
        self.maxPending = config.maxPending
        self.routing = RoutingContext(seed: id &* 0xD1B5_4A32_D192_ED03,
                                      publishWindow: PublishWindow(limit: config.maxPublishBytesInFlight, streamQueueLimit: config.maxStreamQueueBytes))
        var logger = server.logger
        logger[metadataKey: "lid"] = "\(id)"
        logger[metadataKey: "remote"] = "\(url.hostPort)"
        self.logger = logger
    }

    var sent: MessageCount { lock.withLock { sentCount } }
    var subscriptionCount: Int { lock.withLock { interest.counts.count } }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        logger.info("leafnode connection created for account \(account.name)")
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(LeafProtocol.infoWait * 1000))) {
            loopBound.value.handshakeTimedOut()
        }
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
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        routing.finishRead(on: context.channel, account: account, logger: logger) { done in loopBound.value.publishesStored(done) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("leafnode connection error: \(error)")
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
            logger.error("leafnode error from the hub: \(text)")
            if text.contains("Loop detected") { solicitor?.delayNextConnect(LeafProtocol.reconnectDelayAfterLoop) }
            close()
        case .connect:
            logger.error("leafnode: the hub sent CONNECT")
            close()
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

    private func received(_ info: LeafHubInfo) {
        switch phase {
        case .awaitingInfo:
            guard info.isLeafPort else {
                logger.error("attempted to connect to the wrong port: \(url.hostPort) is not a leafnode port")
                close()
                return
            }
            if info.tlsRequired {
                logger.error("the hub at \(url.hostPort) requires TLS, which leafnode remotes do not serve yet")
                close()
                return
            }
            hub = info
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
            sendConnect(info)
            if info.infoOnConnect {
                phase = .connecting
                handshakeTimer?.cancel()
                guard let loop = channel?.eventLoop else { return }
                let loopBound = NIOLoopBound(self, eventLoop: loop)
                handshakeTimer = loop.scheduleTask(in: .milliseconds(Int64(LeafProtocol.connectProcessTimeout * 1000))) {
                    loopBound.value.handshakeTimedOut()
                }
            } else {
                establish()
            }
        case .connecting:
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
            if info.connectInfo {
                permissionsInfo = info
                establish()
            }
        case .established:
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
        case .closed:
            break
        }
    }

    private func sendConnect(_ info: LeafHubInfo) {
        var connect = LeafConnect(version: LeafProtocol.version, serverID: server.serverID, name: server.serverName)
        connect.domain = server.configuration.jetStreamDomain
        connect.jetStream = account.jetStream != nil
        connect.headers = true
        if !remote.denyImports.isEmpty { connect.denyPublish = remote.denyImports }
        if let path = remote.credentials {
            do {
                let credentials = try CredentialsFile.read(path)
                connect.jwt = credentials.jwt
                connect.signature = credentials.seed.sign(nonce: info.nonce ?? "")
            } catch {
                logger.error("leafnode credentials \(path): \(error)")
                close()
                return
            }
        } else if let user = url.user {
            connect.user = user
            connect.pass = url.password
        }
        write { LeafEncoder.connect(connect.json(), into: &$0) }
    }

    /// The hub accepted CONNECT: this account's interest is declared, and the hub's is taken from now on.
    private func establish() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        phase = .established
        wasEstablished = true
        let configuration = server.configuration
        permissions = LeafPermissions.forConnection(denyImports: remote.denyImports, denyExports: remote.denyExports,
                                                    domain: configuration.jetStreamDomain, remoteDomain: hub?.domain,
                                                    hasJetStream: server.hasJetStream, hubImport: permissionsInfo?.importPermission,
                                                    hubExport: permissionsInfo?.exportPermission)
        let name = hub?.serverName ?? hub?.serverID ?? "?"
        logger.info("leafnode connection to \(name) established for account \(account.name)")
        account.attach(self)
        // The snapshot and the first burst of LS+ are made under the router's lock: every later change
        // reaches `interestChanged` after them.
        account.router.observe(self) { subscriptions in
            lock.withLock {
                var burst = ByteBufferAllocator().buffer(capacity: 256 + subscriptions.count * 32)
                for subscription in subscriptions where subscription.leaf == nil && permissions.declares(subscription.subject) {
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

    private func jetStreamSubjects() -> Set<String> {
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

    // MARK: Interest changes (any thread)

    func interestChanged(_ subscription: Subscription, delta: Int) {
        // A leaf declares its own clients' interest only (nats-server's spoke: `localSubs`).
        guard subscription.leaf == nil, permissions.declares(subscription.subject) else { return }
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
        var buffer = ByteBufferAllocator().buffer(capacity: publish.payload.readableBytes + (publish.headers?.readableBytes ?? 0) + 96)
        LeafEncoder.message(subject: publish.subject, reply: publish.reply, queues: queues, headers: publish.headers,
                            payload: publish.payload, into: &buffer)
        return forwardEncoded(buffer, messages: 1, bytes: publish.payload.readableBytes &+ (publish.headers?.readableBytes ?? 0))
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
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Writes a protocol line from the loop, after what already waits.
    private func write(_ body: (inout ByteBuffer) -> Void) {
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        body(&buffer)
        lock.withLock { _ = appendLocked(buffer) }
    }

    private func sendError(_ text: String) { write { ServerEncoder.error(text, into: &$0) } }

    // MARK: Ending

    private func handshakeTimedOut() {
        guard phase == .awaitingInfo || phase == .connecting else { return }
        logger.error(phase == .awaitingInfo ? "no INFO from \(url.hostPort) within \(LeafProtocol.infoWait) s" : "the hub did not answer CONNECT within \(LeafProtocol.connectProcessTimeout) s")
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

    func closeFromAnyThread() {
        channel?.eventLoop.execute { self.close() }
    }
}
