#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NIOCore
import NIOPosix
import NIOSSL

/// TLS settings of the online commands: a CA to trust (default: the system's), and a client certificate
/// with its key for servers that verify clients.
struct TLSFiles {
    var ca: String?
    var certificate: String?
    var key: String?
    /// Upgrade even when the server does not ask (a `tls://` URL or a TLS flag given).
    var required = false

    func context() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        func read<T>(_ what: String, _ path: String, _ load: () throws -> T) throws -> T {
            do { return try load() } catch { throw OnlineFailure("cannot read the \(what) \(path): \(error)") }
        }
        if let ca { configuration.trustRoots = .certificates(try read("CA certificate", ca) { try NIOSSLCertificate.fromPEMFile(ca) }) }
        if let certificate {
            guard let key else { throw OnlineFailure("--tlscert needs --tlskey") }
            configuration.certificateChain = try read("certificate", certificate) { try NIOSSLCertificate.fromPEMFile(certificate) }
                .map { .certificate($0) }
            configuration.privateKey = .privateKey(try read("key", key) { try NIOSSLPrivateKey(file: key, format: .pem) })
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// One TCP connection for the blocking client, on a one-thread event loop: bytes sent are written at once,
/// bytes received wait in an inbox until ``receive(timeout:)`` takes them. ``startTLS(_:host:)`` upgrades it
/// in place, as NATS does after the server's plain-text INFO.
final class Connection: @unchecked Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Channel
    private let inbox = Inbox()

    /// What the event loop has received, and how the connection ended (under the condition's lock).
    final class Inbox: @unchecked Sendable {
        let condition = Condition()
        var bytes: [UInt8] = []
        var ended: String?
    }

    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(_ inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            inbox.condition.withLock {
                inbox.bytes += bytes
                inbox.condition.broadcast()
            }
        }

        func channelInactive(context: ChannelHandlerContext) { end("the server closed the connection") }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if error is NIOSSLError || error is BoringSSLError {
                end("TLS handshake failed: \(error)")
            } else {
                end("connection lost: \(error)")
            }
            context.close(promise: nil)
        }

        private func end(_ reason: String) {
            inbox.condition.withLock {
                if inbox.ended == nil { inbox.ended = reason }
                inbox.condition.broadcast()
            }
        }
    }

    init(host: String, port: Int, timeout: Double) throws {
        let inbox = self.inbox
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(Int64(timeout * 1000)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Reader(inbox)) }
            }
        do {
            channel = try bootstrap.connect(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            var reason = "\(error)"
            if let connection = error as? NIOConnectionError, let io = connection.connectionErrors.first?.error as? IOError {
                reason = String(cString: strerror(io.errnoCode))
            } else if error is ChannelError {
                reason = "no answer within \(timeout) s"
            }
            throw NATSClient.Failure(description: "no server at \(host):\(port): \(reason)")
        }
    }

    deinit {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Puts TLS under everything that follows; its handshake starts at once.
    func startTLS(_ context: NIOSSLContext, host: String) throws {
        // (SNI takes names only; an IP address is checked against the certificate's IP entries instead)
        let isAddress = host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
        let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
        try channel.pipeline.addHandler(handler, position: .first).wait()
    }

    func send(_ bytes: [UInt8]) throws {
        do {
            try channel.writeAndFlush(ByteBuffer(bytes: bytes)).wait()
        } catch {
            throw NATSClient.Failure(description: inbox.condition.withLock { inbox.ended } ?? "connection lost: \(error)")
        }
    }

    /// What has arrived, waiting up to `timeout` seconds for something (nil: nothing came).
    func receive(timeout: Double) throws -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        while inbox.bytes.isEmpty {
            if let ended = inbox.ended { throw NATSClient.Failure(description: ended) }
            guard inbox.condition.wait(until: deadline) else { return nil }
        }
        defer { inbox.bytes.removeAll(keepingCapacity: true) }
        return inbox.bytes
    }
}
