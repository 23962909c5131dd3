import CNIOBoringSSL

/// Ed25519 (RFC 8032) signatures for NKeys, through the BoringSSL that swift-nio-ssl links (so Strata needs no
/// second copy of it). Pure functions of their bytes.
public enum Ed25519 {
    /// True when `signature` (64 bytes) is `publicKey`'s (32 bytes) signature of `message`.
    public static func verify(signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return ED25519_verify(message, message.count, signature, publicKey) == 1
    }

    /// A signing key made from its 32-byte seed (what an NKey seed holds).
    public struct PrivateKey: Sendable {
        /// BoringSSL's 64-byte private key: the seed, then the public key.
        private let expanded: [UInt8]
        public let publicKey: [UInt8]

        public init?(seed: some Collection<UInt8>) {
            let seed = Array(seed)
            guard seed.count == 32 else { return nil }
            var publicKey = [UInt8](repeating: 0, count: 32)
            var expanded = [UInt8](repeating: 0, count: 64)
            ED25519_keypair_from_seed(&publicKey, &expanded, seed)
            self.publicKey = publicKey
            self.expanded = expanded
        }

        /// A key from 32 random bytes of the system's generator (tests make strangers' keys with it).
        public static func random() -> PrivateKey {
            var generator = SystemRandomNumberGenerator()
            return PrivateKey(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
        }

        public func signature(of message: [UInt8]) -> [UInt8] {
            var signature = [UInt8](repeating: 0, count: 64)
            let signed = ED25519_sign(&signature, message, message.count, expanded)
            precondition(signed == 1, "ED25519_sign failed")  // (it cannot with a well-formed key)
            return signature
        }
    }
}
