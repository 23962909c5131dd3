import Auth
import NATSProtocol
import NIOCore
import NIOSSL

/// The hub's handshake: this server's INFO (with a nonce), the leaf's CONNECT, its authentication and
/// binding to an account, and the `connect_info` INFO that tells the leaf its account and permissions.
extension LeafConnection {
    func sendInfo(_ context: ChannelHandlerContext) {
        let configuration = server.configuration
        nonce = Authenticator.makeNonce()
        var buffer = context.channel.allocator.buffer(capacity: 512)
        ServerEncoder.info(leafInfo(context.channel, connectInfo: false).json(), into: &buffer)
        // Written at once, in plain text: with TLS the leaf starts its handshake after reading it.
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        var timeout = configuration.leafNodes.authorization?.timeout ?? configuration.auth.timeout ?? 2
        if let tls = server.leafTLSContext, let settings = configuration.leafNodes.tls {
            do {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                usesTLS = true
                timeout += settings.timeout
            } catch {
                logger.error("leafnode TLS cannot start: \(error)")
                close()
                return
            }
        }
        startHandshakeTimer(seconds: timeout)
    }

    /// The INFO of this server's leaf-node port, as nats-server 2.9.10 sends it.
    private func leafInfo(_ channel: Channel?, connectInfo: Bool) -> LeafServerInfo {
        let configuration = server.configuration
        let local = channel?.localAddress
        let port = local?.port ?? configuration.leafNodes.listen?.port ?? 7422
        let host = configuration.leafNodes.listen?.host ?? "0.0.0.0"
        let advertised = (host == "0.0.0.0" || host == "::" ? local?.ipAddress : host) ?? host
        var info = LeafServerInfo(serverID: server.serverID, serverName: server.serverName, host: host, port: port,
                                  maxPayload: configuration.maxPayload, clientID: id,
                                  leafnodeURLs: [advertised.contains(":") ? "[\(advertised)]:\(port)" : "\(advertised):\(port)"])
        if server.hasJetStream { info.domain = configuration.jetStreamDomain }
        if let tls = configuration.leafNodes.tls, server.leafTLSContext != nil {
            info.tlsRequired = true
            if tls.verifiesClients { info.tlsVerify = true }
        }
        if connectInfo {
            info.connectInfo = true
            info.remoteAccount = account.name
        } else {
            info.nonce = nonce
        }
        return info
    }

    func received(connect json: ByteBuffer) {
        guard let (connect, isClient) = LeafConnect.decode(json) else {
            logger.error("leafnode CONNECT does not decode")
            close()
            return
        }
        if isClient {
            logger.error("a client attempted to connect to the leafnode port")
            sendError("Attempted To Connect To Leafnode Port")
            close()
            return
        }
        let configuration = server.configuration
        let credentials = Credentials(user: connect.user, password: connect.pass)
        let auth = configuration.leafNodes.authorization?.configuration ?? configuration.auth
        let nonce = self.nonce
        // A bcrypt check would stall the loop: it runs on the blocking pool, and nothing more is read meanwhile.
        guard Authenticator.isExpensive(credentials, by: auth), let channel else {
            return decided(Authenticator.authenticate(credentials, nonce: nonce, by: auth, connectionType: AuthConfiguration.leafNodeConnection), connect)
        }
        channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let loopBound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        server.blockingPool.runIfActive(eventLoop: channel.eventLoop) {
            Authenticator.authenticate(credentials, nonce: nonce, by: auth, connectionType: AuthConfiguration.leafNodeConnection)
        }.whenComplete { result in
            let connection = loopBound.value
            connection.decided((try? result.get()) ?? .refused(reason: "the server is shutting down"), connect)
            connection.channel?.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    private func decided(_ decision: AuthDecision, _ connect: LeafConnect) {
        guard phase == .awaitingConnect else { return }
        switch decision {
        case .refused(let reason):
            // The reason names the user, never the password.
            logger.error("leafnode authentication error: \(reason)")
            sendError("Authorization Violation")
            close()
        case .accepted(let identity):
            bind(identity, connect)
        }
    }

    /// Binds the leaf to its account, fixes what may cross, answers with `connect_info` and establishes.
    /// The leaf user's permissions cross reversed, as nats-server reverses them: what it may publish is what
    /// this hub declares interest in and takes from it, what it may subscribe to is what it is sent.
    private func bind(_ identity: Identity, _ connect: LeafConnect) {
        account = server.account(named: identity.account)
        remoteName = connect.name.isEmpty ? connect.serverID : connect.name
        remoteDomain = connect.domain
        let user = identity.permissions
        var permissions = LeafPermissions.forConnection(denyImports: (user?.publish?.deny ?? []).map(\.subject),
                                                        denyExports: (connect.denyPublish ?? []) + (user?.subscribe?.deny ?? []).map(\.subject),
                                                        domain: server.configuration.jetStreamDomain, remoteDomain: remoteDomain,
                                                        hasJetStream: server.hasJetStream)
        permissions.allowImports = user?.publish?.allow?.map(\.subject)
        permissions.allowExports = user?.subscribe?.allow?.map(\.subject)
        self.permissions = permissions
        server.registerAccepted(self)
        var info = leafInfo(channel, connectInfo: true)
        if let user {
            info.importPermission = user.subscribe.map { LeafSubjectPermission(allow: $0.allow?.map(\.subject), deny: $0.deny.map(\.subject)) }
            info.exportPermission = user.publish.map { LeafSubjectPermission(allow: $0.allow?.map(\.subject), deny: $0.deny.map(\.subject)) }
        }
        write { ServerEncoder.info(info.json(), into: &$0) }
        establish()
    }
}
