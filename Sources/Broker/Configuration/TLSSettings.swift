/// TLS for client connections, as nats-server's `tls { cert_file, key_file, ca_file, verify,
/// verify_and_map, timeout }` block and its `--tls`, `--tlscert`, `--tlskey`, `--tlscacert`, `--tlsverify`
/// flags configure it. The files are read when the server starts (a bad one stops it with its path).
public struct TLSSettings: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
    /// The CA that client certificates must chain to (with ``verify``); also trusted for nothing else.
    public var caFile: String?
    /// Clients must present a certificate signed by ``caFile``.
    public var verify = false
    /// As ``verify``, and the certificate's subject alternative names (e-mail, DNS) or subject name are the
    /// user it authenticates as.
    public var verifyAndMap = false
    /// Seconds the handshake may take (nats-server's default: 2).
    public var timeout: Double = 2

    public init(certFile: String, keyFile: String) {
        self.certFile = certFile
        self.keyFile = keyFile
    }

    /// INFO's `tls_verify`.
    public var verifiesClients: Bool { verify || verifyAndMap }
}
