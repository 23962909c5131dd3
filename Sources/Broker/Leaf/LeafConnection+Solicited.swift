import Auth
import NATSProtocol
import NIOCore
import NIOSSL

/// The spoke's handshake: the hub's INFO, this server's CONNECT, the hub's `connect_info` INFO.
extension LeafConnection {
    func received(_ info: LeafHubInfo) {
        guard let url else { return }
        switch phase {
        case .awaitingInfo:
            guard info.isLeafPort else {
                logger.error("attempted to connect to the wrong port: \(url.hostPort) is not a leafnode port")
                close()
                return
            }
            if info.tlsRequired || remote?.tls != nil {
                guard startTLS() else { return }
            }
            hub = info
            remoteName = info.serverName ?? info.serverID
            remoteDomain = info.domain
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
            sendConnect(info)
            if info.infoOnConnect {
                phase = .connecting
                startHandshakeTimer(seconds: LeafProtocol.connectProcessTimeout)
            } else {
                establishSpoke()
            }
        case .connecting:
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
            if info.connectInfo {
                permissionsInfo = info
                establishSpoke()
            }
        case .established:
            if let urls = info.leafnodeURLs { solicitor?.learned(urls) }
        case .awaitingConnect, .closed:
            break
        }
    }

    private func sendConnect(_ info: LeafHubInfo) {
        guard let remote, let url else { return }
        var connect = LeafConnect(version: LeafProtocol.version, serverID: server.serverID, name: server.serverName)
        connect.domain = server.configuration.jetStreamDomain
        connect.jetStream = account.jetStream != nil
        connect.headers = true
        connect.tlsRequired = usesTLS
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

    /// Starts the client side of TLS after the hub's plain-text INFO (as nats-server 2.9 does): CONNECT and
    /// everything after it go through it. The hub's certificate must name the URL's host (unless the remote
    /// says `insecure`).
    private func startTLS() -> Bool {
        guard let url, let channel else { return false }
        do {
            let context = try solicitor?.tls ?? TLSContextFactory.makeClient(LeafRemoteTLS())
            let hostname = url.host.contains(":") || url.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : url.host
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname), position: .first)
            usesTLS = true
            return true
        } catch {
            logger.error("leafnode TLS to \(url.hostPort) cannot start: \(error)")
            close()
            return false
        }
    }

    /// The hub accepted CONNECT: what may cross is fixed (the remote's denies, the JetStream denies, the
    /// hub's permissions for this leaf) and the connection is established.
    private func establishSpoke() {
        guard let remote else { return }
        permissions = LeafPermissions.forConnection(denyImports: remote.denyImports, denyExports: remote.denyExports,
                                                    domain: server.configuration.jetStreamDomain, remoteDomain: remoteDomain,
                                                    hasJetStream: server.hasJetStream, hubImport: permissionsInfo?.importPermission,
                                                    hubExport: permissionsInfo?.exportPermission)
        establish()
    }
}
