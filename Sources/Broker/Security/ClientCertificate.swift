import Auth
import NIOSSL
import X509

/// Reads what `verify_and_map` needs from a client's verified certificate: its subject alternative names
/// (e-mail, DNS, URI, in that order) and its subject (parsed with swift-certificates).
enum ClientCertificate {
    static func identity(of certificate: NIOSSLCertificate) -> CertificateIdentity? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        var emails: [String] = [], dnsNames: [String] = [], uris: [String] = []
        if let names = try? parsed.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .rfc822Name(let email): emails.append(email)
                case .dnsName(let dns): dnsNames.append(dns)
                case .uniformResourceIdentifier(let uri): uris.append(uri)
                default: break
                }
            }
        }
        return CertificateIdentity(names: emails + dnsNames + uris, subject: DistinguishedName(parsed.subject.description))
    }
}
