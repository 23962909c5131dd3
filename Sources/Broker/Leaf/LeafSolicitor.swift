#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Platform

/// Keeps one `remotes` entry connected: dials its URLs in turn (``LeafURLList``), hands each TCP
/// connection to a ``LeafConnection``, and after a failed attempt or a closed connection tries the next
/// URL once the reconnect interval has passed (longer after a loop was detected), until ``stop()``.
final class LeafSolicitor: @unchecked Sendable {
    let remote: LeafRemote
    let account: Account
    private unowned let server: BrokerServer
    private let group: EventLoopGroup
    private let reconnectInterval: Double
    private let logger: Logger
    private let lock = Lock()
    private var urls: LeafURLList
    private var connection: LeafConnection?
    private var stopped = false
    private var nextDelay: Double?
    private var attempts = 0
    /// The remote's TLS client context (its `tls { }`); nil: plain TCP, unless the hub requires TLS.
    let tls: NIOSSLContext?

    init(remote: LeafRemote, account: Account, server: BrokerServer, group: EventLoopGroup, reconnectInterval: Double,
         tls: NIOSSLContext?, logger: Logger) {
        self.tls = tls
        self.remote = remote
        self.account = account
        self.server = server
        self.group = group
        self.reconnectInterval = reconnectInterval
        self.logger = logger
        self.urls = LeafURLList(remote.urls, randomize: !remote.noRandomize)
    }

    /// The connection in service now, if any.
    var current: LeafConnection? { lock.withLock { connection } }

    func start() { schedule(after: 0) }

    /// Stops connecting and closes the connection there is.
    func stop() {
        let open: LeafConnection? = lock.withLock {
            stopped = true
            return connection
        }
        open?.closeFromAnyThread()
    }

    /// The hub's INFO listed these URLs of its cluster.
    func learned(_ hostPorts: [String]) { lock.withLock { urls.learned(hostPorts) } }

    /// The next attempt waits this long instead of the reconnect interval (a loop was detected).
    func delayNextConnect(_ seconds: Double) { lock.withLock { nextDelay = seconds } }

    func connectionEnded(_ ended: LeafConnection) {
        let delay: Double? = lock.withLock {
            guard connection === ended else { return nil }
            connection = nil
            guard !stopped else { return nil }
            defer { nextDelay = nil }
            return nextDelay ?? reconnectInterval
        }
        if let delay { schedule(after: delay) }
    }

    private func schedule(after seconds: Double) {
        group.next().scheduleTask(in: .milliseconds(Int64(seconds * 1000))) { [self] in attempt() }
    }

    private func attempt() {
        let next: (url: LeafURL, id: UInt64)? = lock.withLock {
            guard !stopped, self.connection == nil, let url = urls.next() else { return nil }
            attempts += 1
            return (url, server.newLeafID())
        }
        guard let next else { return }
        let url = next.url, id = next.id
        logger.debug("trying to connect as leafnode to \(url)")
        let connection = LeafConnection(id: id, server: server, solicitor: self, remote: remote, url: url, account: account)
        let maxPending = server.configuration.maxPending
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: maxPending / 2, high: maxPending))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
            }
        lock.withLock { self.connection = connection }
        bootstrap.connect(host: url.host, port: url.port).whenComplete { [self] result in
            switch result {
            case .success:
                lock.withLock { attempts = 0 }
            case .failure(let error):
                let (count, retry): (Int, Bool) = lock.withLock {
                    if self.connection === connection { self.connection = nil }
                    return (attempts, !stopped)
                }
                // As nats-server: the first failure and then every so often at error level, the rest at debug.
                if count == 1 || count % 60 == 0 {
                    logger.error("error trying to connect as leafnode to \(url) (attempt \(count)): \(error)")
                } else {
                    logger.debug("error trying to connect as leafnode to \(url) (attempt \(count)): \(error)")
                }
                if retry { schedule(after: reconnectInterval) }
            }
        }
    }
}
