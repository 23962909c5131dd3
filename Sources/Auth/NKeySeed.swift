#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// A user's NKey seed (`SU…`, what `nk -gen user` writes and clients read from a seed file): it signs the
/// server's nonce for CONNECT's `sig`, and names its public key for CONNECT's `nkey`.
///
/// The text is base32 of two prefix bytes (the seed marker `18 << 3` with the key type's top bits, then
/// the type's low bits: `SU` for a user), the 32-byte Ed25519 seed and a CRC-16 of those 34 bytes.
public struct NKeySeed: Sendable {
    public enum Invalid: Error, Equatable, Sendable {
        case notBase32
        case wrongLength(Int)
        case notAUserSeed
        case checksumMismatch
    }

    private let key: Ed25519.PrivateKey

    /// Parses a user seed; surrounding white space (a seed file's newline) is ignored.
    public init(_ text: String) throws(Invalid) {
        let trimmed = text.trimmingWhitespace(newlines: true)
        guard let decoded = Base32.decode(trimmed) else { throw .notBase32 }
        guard decoded.count == 36 else { throw .wrongLength(decoded.count) }
        let seedMarker: UInt8 = 18 << 3
        let type = NKeyPublicKey.userPrefix
        guard decoded[0] == seedMarker | (type >> 5), decoded[1] == (type & 31) << 3 else { throw .notAUserSeed }
        let checksum = UInt16(decoded[34]) | UInt16(decoded[35]) << 8
        guard CRC16.xmodem(decoded[0..<34]) == checksum else { throw .checksumMismatch }
        guard let key = Ed25519.PrivateKey(seed: decoded[2..<34]) else { throw .wrongLength(decoded.count) }
        self.key = key
    }

    /// The user's public key (`U…`).
    public var publicKey: NKeyPublicKey { NKeyPublicKey(raw: key.publicKey) }

    /// The Ed25519 signature of `nonce` as CONNECT's `sig` carries it (base64 RawURL).
    public func sign(nonce: String) -> String {
        Base64.encodeRawURL(key.signature(of: Array(nonce.utf8)))
    }
}
