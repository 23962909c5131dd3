import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// A server's monitoring listeners (`http_port`, `https_port`), opened before the server recovers its
/// JetStream streams and closed when it shuts down, as nats-server starts its monitor before JetStream. Until a
/// broker is attached (once its client port listens) every endpoint answers 503, `/healthz` with nats-server's
/// "not ready for connections" error, so a probe during a long recovery sees an unhealthy server, not a refused
/// connection. They run on an event loop of their own.
public final class MonitoringPorts: Sendable {
    let servers: [MonitoringServer]
    private let group: MultiThreadedEventLoopGroup?

    private init(servers: [MonitoringServer], group: MultiThreadedEventLoopGroup?) {
        self.servers = servers
        self.group = group
    }

    /// Opens the ports `configuration` asks for (none: an empty set) on a new one-thread event loop group.
    public static func open(configuration: BrokerConfiguration, logger: Logger) async throws -> MonitoringPorts {
        guard configuration.httpPort != nil || configuration.httpsPort != nil else { return MonitoringPorts(servers: [], group: nil) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let tls = try configuration.tls.map { try TLSContextFactory.make($0) }
            let servers = try await open(configuration: configuration, tls: tls, group: group, logger: logger)
            return MonitoringPorts(servers: servers, group: group)
        } catch {
            try? await group.shutdownGracefully()  // (try?: nothing was started on it that could fail to stop)
            throw error
        }
    }

    /// Opens the ports on `group` (the broker's own, when it opens them itself at start).
    static func open(configuration: BrokerConfiguration, tls: NIOSSLContext?, group: EventLoopGroup,
                     logger: Logger) async throws -> [MonitoringServer] {
        if configuration.httpsPort != nil && tls == nil {
            throw ConfigurationError("TLS configuration is required for https monitoring (https_port)")
        }
        let host = configuration.httpHost ?? configuration.host
        var servers: [MonitoringServer] = []
        do {
            for (port, secure) in [(configuration.httpPort, false), (configuration.httpsPort, true)] {
                guard let port else { continue }
                let server = MonitoringServer()
                let bound = try await server.start(host: host, port: port, tls: secure ? tls : nil, group: group)
                servers.append(server)
                logger.info("starting \(secure ? "https" : "http") monitor on \(host):\(bound)")
            }
        } catch {
            for server in servers { await server.stop() }
            throw error
        }
        return servers
    }

    /// From now on the endpoints answer from `broker`.
    func attach(_ broker: BrokerServer) {
        for server in servers { server.attach(broker) }
    }

    func close() async {
        for server in servers { await server.stop() }
        try? await group?.shutdownGracefully()  // (try?: a group already stopped has nothing left to stop)
    }
}
