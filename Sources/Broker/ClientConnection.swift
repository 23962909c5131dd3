import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import Synchronization
import Logging
import NATSProtocol
import NIOCore
import NIOSSL
import NIOTLS
import Subjects

/// One client connection: parses its operations, answers them as nats-server does, and writes the
/// messages routed to it. Every piece of state is touched only on the channel's event loop; deliveries
/// from other loops hop onto it. Outbound writes made during one loop tick are flushed once.
final class ClientConnection: ChannelInboundHandler, Publisher, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: UInt64
    private let server: BrokerServer
    /// The server's configuration as this connection last took it (on its loop only; see ``reconfigure(_:)``).
    private var config: BrokerConfiguration
    private var parser: ClientParser
    private var options = ConnectOptions()
    private var connected = false
    /// The nonce this connection's INFO carried (NKeys sign it).
    private var nonce: String?
    /// The account this connection is in (the global one until CONNECT says otherwise); on its loop.
    private(set) var account: Account
    /// What the authenticated user may do; nil: everything.
    private(set) var permissions: ConnectionPermissions?
    /// The user's name, for the log (never a password or token).
    private var userName: String?
    /// Set while CONNECT is checked off the loop (bcrypt): nothing more is parsed until it is decided.
    private var authenticating = false
    private var authTimer: Scheduled<Void>?
    /// Pending while the TLS handshake runs: it closes the connection when the handshake takes too long.
    private var tlsTimer: Scheduled<Void>?
    /// With `verify_and_map`: who the client's certificate names.
    private var certificateIdentity: CertificateIdentity?
    private var subscriptions: [String: Subscription] = [:]
    private var pingsOutstanding = 0
    private var pingTask: RepeatedTask?
    private var inbound: ByteBuffer?
    /// What waits for the next flush. Empty and unallocated after a flush: a delivery then starts it at
    /// ``outboundStartCapacity`` (an idle connection holds no buffer).
    private var outbound = ByteBuffer()
    /// The size of the last flush, which the next burst is likely to match.
    private var lastFlushBytes = 0
    private var flushScheduled = false
    private var closing = false
    /// What this connection published and what it was sent (on its loop only; monitoring reads a snapshot).
    private(set) var received = MessageCount()
    private(set) var sent = MessageCount()
    let startedAt = Date()
    private(set) var channel: Channel?
    /// The channel's event loop, as compared once per delivery (asking the channel costs a dynamic call).
    private var loopIdentity: ObjectIdentifier?
    /// Producers publishing to this connection pause while half its `max_pending` waits unwritten.
    let stall = ProducerStall()
    /// This connection's reading is paused because a subscriber it published to stalls (on its loop only).
    private(set) var stalledReading = false
    private var stallGeneration = 0
    private var stallWaiting = 0
    private var stallTimer: Scheduled<Void>?
    /// Messages from other threads waiting for one hop onto this connection's loop (under `handOver`).
    private let handOver = Lock()
    /// In pieces of at most ``flushBytes`` each (a piece handed over larger stays whole).
    private var handOverPieces: [ByteBuffer] = []
    private var handOverBytes = 0
    /// Bytes handed to the channel whose write has not completed (the socket has not taken them all), counted
    /// once the connection has been sent anything from the server itself (``deliverEncoded(_:count:)``:
    /// JetStream's deliveries and replies); plain subscribers' flushes skip the write promise it takes.
    private let inFlightBytes = UnwrittenBytes()
    private let tracksWrites = Atomic<Bool>(false)
    private var handOverCount = MessageCount()
    private var handOverScheduled = false
    /// Routing's caches and what one read gathers for its end (on this connection's loop only).
    let routing: RoutingContext
    private var logger: Logger

    init(id: UInt64, server: BrokerServer) {
        self.id = id
        self.server = server
        let config = server.configuration
        self.config = config
        self.parser = ClientParser(maxControlLine: config.maxControlLine, maxPayload: config.maxPayload)
        self.routing = RoutingContext(seed: id &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(UInt(bitPattern: ObjectIdentifier(server).hashValue)),
                                      publishWindow: PublishWindow(limit: config.maxPublishBytesInFlight, streamQueueLimit: config.maxStreamQueueBytes))
        routing.stallsOnSlowSubscribers = true
        self.logger = server.logger
        self.account = server.globalAccount
        logger[metadataKey: "cid"] = "\(id)"
    }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        loopIdentity = ObjectIdentifier(context.eventLoop)
        server.register(self)
        let remote = context.channel.remoteAddress
        logger.debug("client connected from \(remote?.description ?? "?")")
        var info = ServerInfo(serverID: server.serverID, serverName: server.serverName, host: config.host,
                              port: server.boundPort, maxPayload: config.maxPayload, jetstream: server.hasJetStream,
                              authRequired: config.auth.advertisesAuthRequired, clientID: id, clientIP: remote?.ipAddress ?? "")
        if config.auth.needsNonce {
            nonce = Authenticator.makeNonce()
            info.nonce = nonce
        }
        if let tls = config.tls {
            info.tlsRequired = true
            if tls.verifiesClients { info.tlsVerify = true }
        }
        ServerEncoder.info(info.json(), into: &outbound)
        if server.clientCount > config.maxConnections {
            logger.info("maximum connections (\(config.maxConnections)) exceeded: refused")
            sendError("maximum connections exceeded")
            close(.maxConnectionsExceeded)
            return
        }
        flushNow()
        if let tlsContext = server.tlsContext, let tls = config.tls {
            // As nats-server: INFO goes out in plain text, then the client starts the handshake.
            do {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
            } catch {
                logger.error("\(remote?.description ?? "?") - TLS handshake error: \(error)")
                close(.tlsHandshakeFailure)
                return
            }
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            tlsTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(tls.timeout * 1e9))) {
                loopBound.value.tlsHandshakeTimedOut()
            }
        }
        if config.authRequired {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            authTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(config.authTimeout * 1e9))) {
                loopBound.value.authenticationTimedOut()
            }
        }
        startWriteDeadline(context.eventLoop)
        let interval = TimeAmount.nanoseconds(Int64(config.pingInterval * 1e9))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in loopBound.value.keepalive() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stall.release()
        stallTimer?.cancel()
        pingTask?.cancel()
        tlsTimer?.cancel()
        authTimer?.cancel()
        writeDeadlineTask?.cancel()
        var ended = snapshot()
        ended.stop = Date()
        ended.reason = (closeReason ?? .clientClosed).rawValue
        for subscription in subscriptions.values { account.router.remove(subscription) }
        subscriptions.removeAll()
        server.unregister(self, ended: ended)
        logger.debug("client closed")
    }

    /// Why the connection ended, when the server ended it (nil: the client closed it).
    private var closeReason: CloseReason?

    /// When the client last sent something (monitoring's `last_activity`; one clock read per socket read).
    private var lastActivity = Date()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = Date()
        var bytes = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        processInbound()
    }

    /// Parses and handles what has arrived, then does the end-of-read work (hand-overs, stores, acks).
    private func processInbound() {
        guard let channel else { return }
        guard var buffer = inbound.take() else { return finishRead(on: channel) }
        // The parser and the buffer are worked on as locals, put back after the loop: as properties, every
        // operation paid two exclusivity checks for them. (Nothing that handling an operation does touches
        // them: a reload changes the parser's limits in a task of its own.)
        var parser = self.parser
        defer { self.parser = parser }
        do {
            // (A subscriber that stalls stops the parsing here, mid-read, as nats-server's producer waits
            // in the middle of its read: the rest is parsed once the stall ends.)
            while !closing, !authenticating, !stalledReading, !routing.hasStalls, let operation = try parser.next(from: &buffer) {
                handle(operation)
            }
        } catch {
            if let text = error.errorText { sendError(text) }
            logger.debug("protocol error: \(error)")
            switch error {
            case .maximumPayloadViolation: close(.maxPayloadExceeded)
            case .maximumControlLineExceeded: close(.maxControlLineExceeded)
            case .unknownOperation, .malformedArguments: close(.parseError)
            }
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            inbound = buffer
        }
        if routing.hasStalls { beginStall(on: channel) }
        finishRead(on: channel)
    }

    // MARK: Fast-producer stall

    /// A subscriber this read delivered to stalls: reading pauses until every one of them drained, or
    /// ``ProducerStall/longest`` at the latest (nats-server's `stalledWait`, without blocking the loop).
    private func beginStall(on channel: Channel) {
        let targets = routing.takeStalls()
        guard !stalledReading, !closing else { return }
        stalledReading = true
        stallGeneration &+= 1
        stallWaiting = targets.count
        let generation = stallGeneration
        channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let loop = channel.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        for target in targets {
            target.stall.whenDrained { loop.execute { loopBound.value.stalledTargetDrained(generation) } }
        }
        stallTimer = loop.scheduleTask(in: ProducerStall.longest) { loopBound.value.endStall(generation) }
    }

    private func stalledTargetDrained(_ generation: Int) {
        guard generation == stallGeneration, stalledReading else { return }
        stallWaiting -= 1
        if stallWaiting <= 0 { endStall(generation) }
    }

    private func endStall(_ generation: Int) {
        guard generation == stallGeneration, stalledReading else { return }
        stalledReading = false
        stallTimer?.cancel()
        stallTimer = nil
        guard !closing, !authenticating, let channel else { return }
        processInbound()  // what arrived and was not parsed yet
        flushNow()
        guard !stalledReading, !routing.publishWindow.paused else { return }
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    /// The end-of-read work: hand-overs, stores, acks.
    private func finishRead(on channel: Channel) {
        guard routing.hasReadWork else { return }
        let loopBound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        routing.finishRead(on: channel, account: account, logger: logger) { done in loopBound.value.publishesStored(done) }
    }

    /// Earlier stream publishes were stored and acknowledged (on this connection's loop).
    private func publishesStored(_ bytes: Int) {
        if routing.publishWindow.completed(bytes), !authenticating, !stalledReading, let channel {
            logger.debug("publishes stored: reading resumed")
            channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { flushNow() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stall.writabilityChanged(writable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if tlsTimer != nil {
            // A failed handshake (no or a wrong client certificate, plain text to a TLS port) closes this
            // connection only.
            logger.error("\(context.remoteAddress?.description ?? "?") - TLS handshake error: \(error)")
            tlsTimer?.cancel()
            tlsTimer = nil
            closeReason = closeReason ?? .tlsHandshakeFailure
        } else if error is NIOSSLError || error is BoringSSLError {
            logger.debug("TLS error: \(error)")  // (a client that closed without close_notify, say)
        } else {
            logger.debug("connection error: \(error)")
        }
        close()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            tlsTimer?.cancel()
            tlsTimer = nil
            logger.debug("TLS handshake complete")
            if config.tls?.verifyAndMap == true,
               let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self) {
                certificateIdentity = handler.peerCertificate.flatMap(ClientCertificate.identity)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func tlsHandshakeTimedOut() {
        guard tlsTimer != nil, !closing else { return }
        tlsTimer = nil
        logger.error("\(channel?.remoteAddress?.description ?? "?") - TLS handshake timeout")
        close(.tlsHandshakeFailure)
    }

    // MARK: Operations

    private func handle(_ operation: ClientOperation) {
        if !connected && config.authRequired {  // (connected first: the configuration is not touched per operation)
            switch operation {
            case .connect: break
            default:
                authorizationViolation()
                return
            }
        }
        switch operation {
        case .connect(let json):
            guard let decoded = ConnectOptions.decode(json) else { close(.protocolViolation); return }
            if decoded.noResponders && !decoded.headers {
                sendError("no responders requires headers support")
                close(.noRespondersRequiresHeaders)
                return
            }
            authenticate(decoded)
        case .publish(let publish):
            received.add(bytes: publish.payload.readableBytes &+ (publish.headers?.readableBytes ?? 0))
            if publish.headers != nil && !options.headers { close(.headerViolation); return }
            if options.pedantic && !Subject.isValidLiteral(publish.subject) {
                sendError("Invalid Publish Subject")
                ok()
                return
            }
            if let permissions, !permissions.allowsPublish(publish.subject) {
                logger.error("publish violation - \(userDescription), subject \"\(publish.subject)\"")
                sendError("Permissions Violation for Publish to \"\(publish.subject)\"")
                return
            }
            ok()  // the reference acknowledges before it routes (a self-subscription sees +OK first)
            if !server.route(publish, from: self), let reply = publish.reply, options.noResponders {
                answerNoResponders(reply)
            }
        case .subscribe(let subject, let queue, let sid):
            guard Subject.isValidFilter(subject), queue.map(Subject.isValidLiteral) ?? true else {
                sendError("Invalid Subject")
                return
            }
            if let permissions, !permissions.allowsSubscribe(subject, queue: queue) {
                let text = "Permissions Violation for Subscription to \"\(subject)\"" + (queue.map { " using queue \"\($0)\"" } ?? "")
                logger.error("subscription violation - \(userDescription), subject \"\(subject)\"\(queue.map { ", queue \"\($0)\"" } ?? ""), sid \(sid)")
                sendError(text)
                return
            }
            let subscription = Subscription(client: self, router: account.router, sid: sid, subject: subject, queue: queue, receivesHeaders: options.headers,
                                            deliveryFilter: permissions?.deliveryFilter(forSubscription: subject),
                                            replies: permissions?.replies)
            if let previous = subscriptions.updateValue(subscription, forKey: sid) { account.router.remove(previous) }
            account.router.add(subscription)
            ok()
        case .unsubscribe(let sid, let max):
            if let subscription = subscriptions[sid] {
                if let max, max > 0 {
                    if subscription.limit(to: max) { remove(subscription) }
                } else {
                    remove(subscription)
                }
            }
            ok()
        case .ping:
            ServerEncoder.pong(into: &outbound)
        case .pong:
            pingsOutstanding = 0
        case .ok, .error:
            break
        }
    }

    // MARK: Authentication

    /// Decides who the client of `connect` is (``Authenticator``, from the configuration this connection
    /// holds). A bcrypt check runs on the server's blocking pool, and nothing more the client sent is
    /// parsed until it is decided; every other check is made here at once.
    private func authenticate(_ connect: ConnectOptions, reauthenticating: Bool = false) {
        let auth = config.auth
        guard auth.required else { return accept(connect, as: Identity(), reauthenticating: reauthenticating) }
        let credentials = Credentials(user: connect.user, password: connect.pass, token: connect.authToken,
                                      nkey: connect.nkey, signature: connect.signature,
                                      certificate: config.tls?.verifyAndMap == true ? certificateIdentity ?? CertificateIdentity(names: [], subject: nil) : nil)
        let nonce = self.nonce
        guard Authenticator.isExpensive(credentials, by: auth), let channel else {
            return decided(Authenticator.authenticate(credentials, nonce: nonce, by: auth), connect, reauthenticating)
        }
        authenticating = true
        channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let loopBound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        server.blockingPool.runIfActive(eventLoop: channel.eventLoop) {
            Authenticator.authenticate(credentials, nonce: nonce, by: auth)
        }.whenComplete { result in
            let connection = loopBound.value
            connection.authenticating = false
            let decision = (try? result.get()) ?? .refused(reason: "the server is shutting down")
            connection.decided(decision, connect, reauthenticating)
            guard !connection.closing, let channel = connection.channel else { return }
            if !connection.routing.publishWindow.paused && !connection.stalledReading {
                channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            }
            connection.processInbound()
            connection.flushNow()
        }
    }

    private func decided(_ decision: AuthDecision, _ connect: ConnectOptions, _ reauthenticating: Bool) {
        switch decision {
        case .accepted(let identity):
            accept(connect, as: identity, reauthenticating: reauthenticating)
        case .refused(let reason):
            // The reason names the user or key, never the password, token or signature.
            logger.error("\(channel?.remoteAddress?.description ?? "?") - authentication error: \(reason)")
            authorizationViolation()
        }
    }

    private func accept(_ connect: ConnectOptions, as identity: Identity, reauthenticating: Bool) {
        authTimer?.cancel()
        authTimer = nil
        let target = server.account(named: identity.account)
        if reauthenticating && target !== account {
            // (subscriptions live in the old account's router: moving them is not served; reconnect)
            logger.error("\(channel?.remoteAddress?.description ?? "?") - user \(identity.name ?? "?") moved to account \(identity.account) by a reload")
            authorizationViolation()
            return
        }
        account = target
        permissions = identity.permissions.map(ConnectionPermissions.init)
        userName = identity.name
        if reauthenticating { return }
        options = connect
        connected = true
        ok()
    }

    /// No CONNECT within the authorization timeout.
    private func authenticationTimedOut() {
        guard !connected, !closing else { return }
        logger.error("\(channel?.remoteAddress?.description ?? "?") - authentication timeout")
        sendError("Authentication Timeout")
        close(.authenticationTimeout)
    }

    /// Who this connection is, for the log: the user's name or NKey, or its address.
    private var userDescription: String {
        userName.map { "user \"\($0)\"" } ?? "client \(channel?.remoteAddress?.description ?? "?")"
    }

    /// A request that reached nobody: the reference answers the requester's own subscription for the reply
    /// subject with a header-only 503 status (nats.go's `ErrNoResponders`, nats-py's `NoRespondersError`).
    private func answerNoResponders(_ reply: String) {
        guard let subscription = account.router.matches(reply, cache: false).plain.first(where: { $0.client === self }) else { return }
        ServerEncoder.message(subject: reply, sid: subscription.sid, reply: nil, headers: ServerEncoder.noRespondersStatus,
                              payload: ByteBuffer(), into: &outbound)
    }

    private func ok() {
        if options.verbose { ServerEncoder.ok(into: &outbound) }
    }

    private func authorizationViolation() {
        sendError("Authorization Violation")
        close(.authenticationFailure)
    }

    private func sendError(_ text: String) {
        ServerEncoder.error(text, into: &outbound)
    }

    /// Removes a subscription (on this connection's loop).
    func remove(_ subscription: Subscription) {
        account.router.remove(subscription)
        if subscriptions[subscription.sid] === subscription { subscriptions[subscription.sid] = nil }
    }

    var echo: Bool { options.echo }
    var eventLoop: EventLoop? { channel?.eventLoop }

    /// What monitoring shows of this connection (on its loop).
    func snapshot() -> ConnectionSnapshot {
        let remote = channel?.remoteAddress
        // (try?: a closing channel reports nothing pending)
        let pending = (try? channel?.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        return ConnectionSnapshot(id: id, ip: remote?.ipAddress ?? "", port: remote?.port ?? 0, start: startedAt,
                                  lastActivity: lastActivity, received: received, sent: sent,
                                  pendingBytes: pending + outbound.readableBytes,
                                  subscriptions: subscriptions.values.map(\.subject).sorted(),
                                  name: options.name, lang: options.lang, version: options.version, user: userName,
                                  account: account.name, tls: config.tls != nil)
    }

    // MARK: Delivery

    /// Delivers a routed message, called on the publisher's event loop (`publisher` is the connection
    /// being read). A target on the same loop gets it in its outbound buffer at once; a target on another
    /// loop gets it with everything else for it from this read, in one hop.
    func deliver(_ publish: Publish, to subscription: Subscription, from publisher: some Publisher, on loop: EventLoop) {
        guard let channel else { return }
        if loopIdentity == ObjectIdentifier(loop) {
            guard admit() else { return }
            let headers = subscription.receivesHeaders ? publish.headers : nil
            if outbound.capacity == 0 { outbound = channel.allocator.buffer(capacity: outboundStartCapacity) }
            ServerEncoder.message(subject: publish.subject, sid: subscription.sid, reply: publish.reply,
                                  headers: headers, payload: publish.payload, into: &outbound)
            sent.add(bytes: publish.payload.readableBytes &+ (headers?.readableBytes ?? 0))
            if outbound.readableBytes >= Self.flushBytes { flushNow() } else { scheduleFlush() }
        } else {
            publisher.routing.encodeRemote(publish, to: subscription, client: self)
        }
        if stall.isStalling && publisher.routing.stallsOnSlowSubscribers { publisher.routing.stall(on: self) }
    }

    /// Takes messages already encoded for this connection, from any thread: appended at once on its own
    /// loop; from elsewhere, gathered under a lock and moved over in one hop for everything that arrives
    /// before the loop gets to it (pub acks completing one by one on the store's writer thread).
    func deliverEncoded(_ buffer: ByteBuffer, count: MessageCount) {
        guard let channel else { return }
        if !tracksWrites.load(ordering: .relaxed) { tracksWrites.store(true, ordering: .relaxed) }
        if channel.eventLoop.inEventLoop {
            // What other threads handed over earlier goes first (a consumer's deliveries stay in order).
            if let earlier = takeHandOver() { appendEncoded(earlier.pieces, count: earlier.count) }
            appendEncoded(CollectionOfOne(buffer), count: count)
            return
        }
        var buffer = buffer
        let schedule: Bool = handOver.withLock {
            let size = buffer.readableBytes
            if let last = handOverPieces.indices.last, handOverPieces[last].readableBytes + size <= Self.flushBytes {
                handOverPieces[last].writeBuffer(&buffer)
            } else {
                handOverPieces.append(buffer)
            }
            handOverBytes += size
            handOverCount += count
            if handOverScheduled { return false }
            handOverScheduled = true
            return true
        }
        guard schedule else { return }
        channel.eventLoop.execute {
            if let taken = self.takeHandOver(clearingSchedule: true) { self.appendEncoded(taken.pieces, count: taken.count) }
        }
    }

    /// What this connection was handed and its socket has not taken yet: writes in flight and messages
    /// other threads handed over (safe from any thread; push consumers pace a backlog by it).
    var unwrittenBytes: Int {
        inFlightBytes.value + handOver.withLock { handOverBytes }
    }

    private func takeHandOver(clearingSchedule: Bool = false) -> (pieces: [ByteBuffer], count: MessageCount)? {
        handOver.withLock {
            if clearingSchedule { handOverScheduled = false }
            guard !handOverPieces.isEmpty else { return nil }
            defer { handOverPieces = []; handOverBytes = 0; handOverCount = MessageCount() }
            return (handOverPieces, handOverCount)
        }
    }

    /// Takes messages encoded on another loop (on this connection's loop). A piece is taken as it is when
    /// nothing waits (the usual case, a consumer's step after a flush) or when what waits would grow past
    /// ``flushBytes`` (that is written out first); a small one is appended.
    func appendEncoded(_ pieces: some Collection<ByteBuffer>, count: MessageCount) {
        guard admit() else { return }
        sent += count
        for piece in pieces {
            if outbound.readableBytes == 0 {
                outbound = piece
            } else if outbound.readableBytes + piece.readableBytes > Self.flushBytes {
                flushNow()
                outbound = piece
            } else {
                var piece = piece
                outbound.writeBuffer(&piece)
            }
        }
        scheduleFlush()
    }

    /// False (and the connection cut off as a slow consumer) when more than max_pending bytes wait. (Over
    /// its high water mark, half of max_pending, the channel is not writable: its producers stall.)
    private func admit() -> Bool {
        guard !closing, let channel else { return false }
        if channel.isWritable { return true }
        // The channel is asked what waits once per piece handed to it, not per message (asking is a dynamic
        // call): over max_pending is found at most a piece late.
        if bytesHanded &- bytesHandedAtPendingCheck < Self.flushBytes { return true }
        bytesHandedAtPendingCheck = bytesHanded
        // (try?: a channel that cannot answer is closing; it counts as nothing waiting)
        let waiting = (try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        if waiting + outbound.readableBytes <= config.maxPending { return true }
        server.countSlowConsumer()
        logger.warning("slow consumer: more than \(config.maxPending) bytes pending, closing")
        sendError("Slow Consumer")
        close(.slowConsumerPendingBytes)
        return false
    }

    /// A client channel's water marks: producers stall over half of `max_pending` (nats-server's threshold)
    /// and are read again below a quarter.
    static func waterMark(maxPending: Int) -> ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: maxPending / 4, high: maxPending / 2)
    }

    /// Deliveries of one read are written out in pieces of about this size: a piece stays in the CPU's
    /// caches from encoding to the socket's copy, and its buffer is reused memory rather than fresh pages
    /// (larger blocks are mapped anew for each allocation: ``MallocTuning``).
    static let flushBytes = 64 << 10

    /// The first capacity of a buffer that deliveries start after a flush: the last flush's size, so that a
    /// burst's buffer is not grown by doubling from a few KiB (each step a copy), within 4 KiB and one
    /// piece of ``flushBytes`` with room for its last message.
    private var outboundStartCapacity: Int { min(max(lastFlushBytes + lastFlushBytes / 8, 4096), Self.flushBytes + Self.flushBytes / 8) }

    private func scheduleFlush() {
        guard !flushScheduled, let channel else { return }
        flushScheduled = true
        channel.eventLoop.execute { self.flushNow() }
    }

    /// Writes and flushes what has accumulated.
    private func flushNow() {
        flushScheduled = false
        guard let channel, outbound.readableBytes > 0 else { return }
        let buffer = outbound
        outbound = ByteBuffer()
        lastFlushBytes = buffer.readableBytes
        bytesHanded &+= buffer.readableBytes
        guard tracksWrites.load(ordering: .relaxed) else {
            channel.writeAndFlush(buffer, promise: nil)
            return
        }
        channel.writeAndFlush(buffer, promise: inFlightBytes.promise(forWriteOf: buffer.readableBytes, on: channel.eventLoop))
    }

    // MARK: Write deadline and reload

    /// Bytes handed to the channel so far; with the channel's still-buffered bytes, what the socket took.
    private var bytesHanded = 0
    /// `bytesHanded` when ``admit()`` last asked the channel what waits.
    private var bytesHandedAtPendingCheck = 0
    /// What the socket had taken at the last check, and since when bytes have waited with none taken.
    private var bytesWrittenAtCheck = 0
    private var stalledSince: NIODeadline?
    private var writeDeadlineTask: RepeatedTask?

    /// Checks, four times per deadline, that the socket keeps taking what is written to it: a connection
    /// with bytes waiting and none taken for longer than `write_deadline` is closed as a slow consumer, as
    /// nats-server does. (Nothing is added to the write path but a counter.)
    private func startWriteDeadline(_ loop: EventLoop) {
        writeDeadlineTask?.cancel()
        let deadline = TimeAmount.nanoseconds(Int64(config.writeDeadline * 1e9))
        let period = TimeAmount.nanoseconds(max(deadline.nanoseconds / 4, 1_000_000))
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        writeDeadlineTask = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            loopBound.value.checkWriteDeadline(deadline)
        }
    }

    private func checkWriteDeadline(_ deadline: TimeAmount) {
        guard !closing, let channel else { return }
        // (try?: a channel that cannot answer is closing; it counts as nothing waiting)
        let waiting = (try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        let written = bytesHanded &- waiting
        let now = NIODeadline.now()
        if waiting == 0 || written != bytesWrittenAtCheck {
            bytesWrittenAtCheck = written
            stalledSince = waiting == 0 ? nil : now
            return
        }
        guard let since = stalledSince, now - since > deadline else { return }
        server.countSlowConsumer()
        logger.warning("slow consumer: nothing written for longer than the write deadline (\(config.writeDeadline) s), closing")
        closing = true
        closeReason = .slowConsumerWriteDeadline
        channel.close(promise: nil)
    }

    /// Takes a reloaded configuration (from any thread; applied on this connection's loop).
    func reconfigureFromAnyThread(_ configuration: BrokerConfiguration) {
        guard let channel else { return }
        channel.eventLoop.execute { self.reconfigure(configuration) }
    }

    /// Limits and authorization from a reloaded configuration: a connection that no longer authorizes is
    /// closed with `Authorization Violation`; the others carry on with the new limits.
    private func reconfigure(_ configuration: BrokerConfiguration) {
        guard !closing, let channel else { return }
        let previous = config
        config = configuration
        parser.maxPayload = configuration.maxPayload
        parser.maxControlLine = configuration.maxControlLine
        if previous.maxPending != configuration.maxPending {
            channel.setOption(ChannelOptions.writeBufferWaterMark, value: Self.waterMark(maxPending: configuration.maxPending)).whenFailure { _ in }
        }
        if previous.writeDeadline != configuration.writeDeadline { startWriteDeadline(channel.eventLoop) }
        if connected && (configuration.auth != previous.auth || configuration.tls != previous.tls) {
            // As nats-server: every connection is authenticated again; one that no longer passes is closed,
            // the others carry on with their new permissions.
            authenticate(options, reauthenticating: true)
        }
        flushNow()
    }

    private func keepalive() {
        if pingsOutstanding >= config.maxPingsOut {
            logger.info("stale connection: \(pingsOutstanding) PINGs unanswered, closing")
            sendError("Stale Connection")
            close(.staleConnection)
            return
        }
        pingsOutstanding += 1
        ServerEncoder.ping(into: &outbound)
        flushNow()
    }

    /// Flushes what is pending and closes the connection (on its loop).
    func close(_ reason: CloseReason? = nil) {
        guard !closing, let channel else { return }
        closing = true
        if closeReason == nil { closeReason = reason }
        flushNow()
        channel.close(promise: nil)
    }

    /// Closes from any thread.
    func closeFromAnyThread() {
        guard let channel else { return }
        channel.eventLoop.execute { self.close(.serverShutdown) }
    }
}
