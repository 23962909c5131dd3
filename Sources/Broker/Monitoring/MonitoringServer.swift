#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The monitoring port (`http_port`, `http`, `-m`): HTTP GET of nats-server's endpoints, answered by
/// ``MonitoringEndpoints`` from a snapshot the broker gathers per request (each connection reports on its
/// own loop; nothing on the message path waits for it). Before a broker is attached (while the server is
/// still starting) it answers ``MonitoringEndpoints/starting(path:)``.
final class MonitoringServer: @unchecked Sendable {
    private var broker: BrokerServer?
    private var channel: Channel?
    private let lock = Lock()
    private var requestCounts: [String: Int] = [:]
    private(set) var boundPort = 0
    /// Serving HTTPS (its port is `/varz` `https_port`).
    private(set) var secure = false

    init() {}

    func attach(_ broker: BrokerServer) { lock.withLock { self.broker = broker } }

    /// Listens on `host:port`; with `tls`, HTTPS (the client listener's certificate and verification).
    func start(host: String, port: Int, tls: NIOSSLContext?, group: EventLoopGroup) async throws -> Int {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MonitoringHandler(server: self))
                }
            }
        secure = tls != nil
        let channel = try await bootstrap.bind(host: host, port: port).get()
        self.channel = channel
        boundPort = channel.localAddress?.port ?? port
        return boundPort
    }

    func stop() async {
        // (try?: a listener already closed leaves nothing to undo)
        try? await channel?.close()
    }

    /// Counts a request to one of the endpoints (`/varz` `http_req_stats`); a refused query is not
    /// counted, as nats-server does not count it.
    func counted(_ path: String, countThis: Bool) -> [String: Int] {
        lock.withLock {
            if countThis && MonitoringEndpoints.paths.contains(path) { requestCounts[path, default: 0] += 1 }
            return requestCounts
        }
    }

    private func uncount(_ path: String) {
        lock.withLock { if let n = requestCounts[path] { requestCounts[path] = n > 1 ? n - 1 : nil } }
    }

    func respond(path: String, query: [String: String], on loop: EventLoop) -> EventLoopFuture<MonitoringEndpoints.Response> {
        let counts = counted(path, countThis: true)
        guard path == "/" || MonitoringEndpoints.paths.contains(path) || path == "/subscriptionsz" else {
            return loop.makeSucceededFuture(MonitoringEndpoints.Response(status: 404, body: "404 page not found\n"))
        }
        guard let broker = lock.withLock({ broker }) else { return loop.makeSucceededFuture(MonitoringEndpoints.starting(path: path)) }
        return broker.monitoringSnapshot(httpPort: secure ? nil : boundPort, httpsPort: secure ? boundPort : nil, requestCounts: counts,
                                         consumerDetails: path == "/metrics" || (path == "/jsz" && (try? MonitoringEndpoints.flag(query, "consumers")) == true),
                                         on: loop).map { snapshot in
            let response = MonitoringEndpoints.respond(path: path, query: query, snapshot: snapshot)
            if response.status == 400 { self.uncount(path) }
            return response
        }
    }

    /// `/connz?limit=2&subs=1` → ("/connz", ["limit": "2", "subs": "1"]).
    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        guard let components = URLComponents(string: uri) else { return (uri, [:]) }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        var path = components.path
        if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return (path, query)
    }
}

/// One HTTP connection to the monitoring port: GET (and HEAD) only.
private final class MonitoringHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let server: MonitoringServer
    private var head: HTTPRequestHead?

    init(server: MonitoringServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            guard request.method == .GET || request.method == .HEAD else {
                write(loopBound.value, request, MonitoringEndpoints.Response(status: 405, body: "method not allowed\n"))
                return
            }
            let (path, query) = MonitoringServer.split(request.uri)
            server.respond(path: path, query: query, on: context.eventLoop).whenComplete { result in
                let response = (try? result.get()) ?? MonitoringEndpoints.Response(status: 500, body: "snapshot failed\n")
                self.write(loopBound.value, request, response)
            }
        }
    }

    private func write(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ response: MonitoringEndpoints.Response) {
        var headers = HTTPHeaders()
        let json = response.body.hasPrefix("{")
        headers.add(name: "Content-Type", value: response.contentType ?? (json ? "application/json" : "text/plain; charset=utf-8"))
        headers.add(name: "Content-Length", value: "\(response.body.utf8.count)")
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: .init(statusCode: response.status), headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.body)))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
