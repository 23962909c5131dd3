import NATSConfig

/// nats-server's `tls` block for client connections, read onto ``TLSSettings``. The keys nats-server 2.9
/// knows but Strata does not serve (cipher and curve lists, pinned certificates, OCSP, certificate stores)
/// are warned about; any other is an error, as `parseTLS` makes it.
extension ConfigFileOptions.Reading {
    static let unservedTLS: Set<String> = [
        "cipher_suites", "curve_preferences", "pinned_certs", "insecure", "verify_cert_and_check_known_urls",
        "cert_store", "cert_match_by", "cert_match", "ocsp_peer", "min_version", "handshake_first", "connection_rate_limit",
    ]

    mutating func tls(_ value: ConfigValue) throws(ConfigError) {
        configuration.tls = try tlsSettings(value)
    }

    /// A server side's `tls` block (client connections, the leaf-node port).
    mutating func tlsSettings(_ value: ConfigValue) throws(ConfigError) -> TLSSettings {
        let map = try value.map(for: "tls")
        var cert: String?, key: String?, ca: String?
        var verify = false, verifyAndMap = false, timeout: Double?
        for entry in map.entries where !entry.usedAsVariable {
            let name = entry.key.lowercased(), value = entry.value
            switch name {
            case "cert_file": cert = try value.string(for: name)
            case "key_file": key = try value.string(for: name)
            case "ca_file": ca = try value.string(for: name)
            case "verify": verify = try value.bool(for: name)
            case "verify_and_map": verifyAndMap = try value.bool(for: name)
            case "timeout": timeout = try seconds(value, name)
            default:
                guard Self.unservedTLS.contains(name) else {
                    throw ConfigError("error parsing tls config, unknown field [\"\(entry.key)\"]", at: entry.keyLocation)
                }
                warnings.append(ConfigWarning("'tls { \(entry.key) }' is a nats-server option strata does not serve yet: ignored",
                                              at: entry.keyLocation))
            }
        }
        guard let cert else { throw ConfigError("missing 'cert_file' in TLS configuration", at: value.location) }
        guard let key else { throw ConfigError("missing 'key_file' in TLS configuration", at: value.location) }
        var settings = TLSSettings(certFile: cert, keyFile: key)
        settings.caFile = ca
        settings.verify = verify
        settings.verifyAndMap = verifyAndMap
        if let timeout { settings.timeout = timeout }
        return settings
    }

    /// A leaf remote's `tls` block (this server is the TLS client): a CA to verify the hub with, a client
    /// certificate when the hub verifies leaves, `insecure` to skip verification, `timeout`.
    mutating func remoteTLS(_ value: ConfigValue) throws(ConfigError) -> LeafRemoteTLS {
        let map = try value.map(for: "tls")
        var settings = LeafRemoteTLS()
        for entry in map.entries where !entry.usedAsVariable {
            let name = entry.key.lowercased(), value = entry.value
            switch name {
            case "cert_file": settings.certFile = try value.string(for: name)
            case "key_file": settings.keyFile = try value.string(for: name)
            case "ca_file": settings.caFile = try value.string(for: name)
            case "insecure": settings.insecure = try value.bool(for: name)
            case "timeout": settings.timeout = try seconds(value, name)
            case "verify": _ = try value.bool(for: name)  // (a client always verifies the hub unless `insecure`)
            default:
                guard Self.unservedTLS.contains(name) else {
                    throw ConfigError("error parsing tls config, unknown field [\"\(entry.key)\"]", at: entry.keyLocation)
                }
                warnings.append(ConfigWarning("'tls { \(entry.key) }' is a nats-server option strata does not serve yet: ignored",
                                              at: entry.keyLocation))
            }
        }
        if (settings.certFile == nil) != (settings.keyFile == nil) {
            throw ConfigError("a leafnode remote's tls needs both 'cert_file' and 'key_file', or neither", at: value.location)
        }
        return settings
    }
}
