import Auth
import NATSProtocol
import NIOCore

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
            if info.tlsRequired {
                logger.error("the hub at \(url.hostPort) requires TLS, which leafnode remotes do not serve yet")
                close()
                return
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
