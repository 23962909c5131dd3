import NIOSSL

/// Builds the TLS context for client connections from ``TLSSettings``: the server's certificate chain and
/// key, TLS 1.2 at least (nats-server's minimum), and with `verify` (or `verify_and_map`) a client
/// certificate required and checked against `ca_file` (the system's roots when there is none). A file that
/// cannot be read is refused with its path.
enum TLSContextFactory {
    static func make(_ settings: TLSSettings) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certFile)
        } catch {
            throw ConfigurationError("TLS: cannot read cert_file \(settings.certFile): \(error)")
        }
        guard !chain.isEmpty else { throw ConfigurationError("TLS: no certificate in cert_file \(settings.certFile)") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw ConfigurationError("TLS: cannot read key_file \(settings.keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if settings.verifiesClients {
            configuration.certificateVerification = .noHostnameVerification
            if let ca = settings.caFile {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                } catch {
                    throw ConfigurationError("TLS: cannot read ca_file \(ca): \(error)")
                }
            } else {
                configuration.trustRoots = .default
            }
        } else {
            configuration.certificateVerification = .none
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("TLS: the certificate and key cannot be used together: \(error)")
        }
    }

    /// The client side, for a leaf connecting to its hub: TLS 1.2 at least, the hub's certificate checked
    /// against `ca_file` (the system's roots when there is none) unless `insecure`, and the leaf's own
    /// certificate when one is configured.
    static func makeClient(_ settings: LeafRemoteTLS) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if settings.insecure { configuration.certificateVerification = .none }
        if let ca = settings.caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw ConfigurationError("leafnode TLS: cannot read ca_file \(ca): \(error)")
            }
        }
        if let certFile = settings.certFile, let keyFile = settings.keyFile {
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
            } catch {
                throw ConfigurationError("leafnode TLS: cannot read cert_file \(certFile): \(error)")
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw ConfigurationError("leafnode TLS: cannot read key_file \(keyFile): \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("leafnode TLS: \(error)")
        }
    }
}
