import Auth
import CNIOBoringSSL
import NIOSSL

/// Reads what `verify_and_map` needs from a client's verified certificate: its subject alternative names
/// (e-mail, DNS, URI, in that order) and its subject in the RFC 2253 form, both through the BoringSSL that
/// swift-nio-ssl already links (the certificate was parsed and verified by it during the handshake).
enum ClientCertificate {
    static func identity(of certificate: NIOSSLCertificate) -> CertificateIdentity? {
        guard let der = try? certificate.toDERBytes(), let subject = subject(der: der) else { return nil }
        var emails: [String] = [], dnsNames: [String] = [], uris: [String] = []
        for name in certificate._subjectAlternativeNames() {
            let text = String(decoding: Array(name.contents), as: UTF8.self)
            switch name.nameType {
            case .email: emails.append(text)
            case .dnsName: dnsNames.append(text)
            case .uri: uris.append(text)
            default: break
            }
        }
        return CertificateIdentity(names: emails + dnsNames + uris, subject: DistinguishedName(subject))
    }

    /// The subject of a DER certificate as RFC 2253 text (`CN=bob,OU=eng,O=Acme`: most specific first, special
    /// characters escaped, UTF-8 kept as it is); nil when the DER does not parse.
    static func subject(der: [UInt8]) -> String? {
        der.withUnsafeBufferPointer { buffer -> String? in
            var cursor = buffer.baseAddress
            guard let certificate = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            defer { X509_free(certificate) }
            guard let name = X509_get_subject_name(certificate),
                  let bio = BIO_new(BIO_s_mem()) else { return nil }
            defer { BIO_free(bio) }
            // XN_FLAG_RFC2253 (a macro of macros, which Swift does not import) without ASN1_STRFLGS_ESC_MSB
            let strings = ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL | ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN | ASN1_STRFLGS_DUMP_DER
            let flags = UInt(strings) | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(XN_FLAG_FN_SN) | UInt(XN_FLAG_DUMP_UNKNOWN_FIELDS)
            guard X509_NAME_print_ex(bio, name, 0, flags) >= 0 else { return nil }
            var contents: UnsafePointer<UInt8>?
            var length = 0
            guard BIO_mem_contents(bio, &contents, &length) == 1, let contents else { return "" }
            return String(decoding: UnsafeBufferPointer(start: contents, count: length), as: UTF8.self)
        }
    }
}
