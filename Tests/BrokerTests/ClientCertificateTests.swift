import Auth
import NIOSSL
import Testing
@testable import Broker

/// What verify_and_map reads from a certificate, through BoringSSL: the subject in RFC 2253 form (escapes
/// kept, UTF-8 kept, a multi-valued RDN joined with '+') and the e-mail, DNS and URI names, in that order.
@Suite struct ClientCertificateTests {
    /// openssl req -x509 -utf8 -subj "/CN=Zoë/OU=eng+OU=ops/O=Acme, Inc./C=GB"
    ///   -addext "subjectAltName=email:zoe@example.com,DNS:zoe.example.com,URI:spiffe://acme/zoe"
    static let pem = """
-----BEGIN CERTIFICATE-----
MIICLTCCAdOgAwIBAgIUMmwtZ1xNW8uB4iH04gp5ShpF/DkwCgYIKoZIzj0EAwIw
SzENMAsGA1UEAwwEWm/DqzEYMAoGA1UECwwDZW5nMAoGA1UECwwDb3BzMRMwEQYD
VQQKDApBY21lLCBJbmMuMQswCQYDVQQGEwJHQjAeFw0yNjEyMDIxODU3MjBaFw0z
NjExMjkxODU3MjBaMEsxDTALBgNVBAMMBFpvw6sxGDAKBgNVBAsMA2VuZzAKBgNV
BAsMA29wczETMBEGA1UECgwKQWNtZSwgSW5jLjELMAkGA1UEBhMCR0IwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASVcRhHXcZQaubAgDue5efKI5kCPAUq2ZNhZ8uT
hq/cdFFyvBCEWFGcj4n/6fem4uf/2QnqvKjmSL2ioYudutBAo4GUMIGRMB0GA1Ud
DgQWBBRUFCNPH34wLJsf7H/zEjivM6fETDAfBgNVHSMEGDAWgBRUFCNPH34wLJsf
7H/zEjivM6fETDAPBgNVHRMBAf8EBTADAQH/MD4GA1UdEQQ3MDWBD3pvZUBleGFt
cGxlLmNvbYIPem9lLmV4YW1wbGUuY29thhFzcGlmZmU6Ly9hY21lL3pvZTAKBggq
hkjOPQQDAgNIADBFAiEAq8sFlLJcpakzzrVGmxdYBtuz9Y+exeKev8r27s0QIzsC
IHtFg7MmMIqhojCDC4fMavZcvFCXS+PCcvZRphDuPAPp
-----END CERTIFICATE-----
"""

    @Test func readsTheSubjectAndTheAlternativeNames() throws {
        let certificate = try NIOSSLCertificate(bytes: Array(Self.pem.utf8), format: .pem)
        let der = try certificate.toDERBytes()
        // The text openssl x509 -nameopt RFC2253,-esc_msb prints for it.
        #expect(ClientCertificate.subject(der: der) == #"C=GB,O=Acme\, Inc.,OU=ops+OU=eng,CN=Zoë"#)
        let identity = try #require(ClientCertificate.identity(of: certificate))
        #expect(identity.names == ["zoe@example.com", "zoe.example.com", "spiffe://acme/zoe"])
        #expect(identity.subject == DistinguishedName(#"CN=Zoë,OU=eng,OU=ops,O=Acme\, Inc.,C=GB"#))
    }

    @Test func aDERThatDoesNotParseHasNoSubject() throws {
        let der = try NIOSSLCertificate(bytes: Array(Self.pem.utf8), format: .pem).toDERBytes()
        #expect(ClientCertificate.subject(der: Array(der.prefix(der.count / 2))) == nil)
        #expect(ClientCertificate.subject(der: []) == nil)
        #expect(ClientCertificate.subject(der: [0x30, 0x03, 0x02, 0x01, 0x01]) == nil)
    }
}
