#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// A user's NKey public key: the text form nats-server configures (`users = [ { nkey: "U…" } ]`) and
/// clients send in CONNECT's `nkey`, and the Ed25519 key inside it.
///
/// The text is base32 (standard alphabet, no padding) of one prefix byte (`20 << 3` for a user, which
/// base32 renders as `U`), the 32-byte key and a CRC-16 (CCITT/XMODEM, little-endian) of those 33 bytes.
/// Parsing checks all three; a key that fails any is refused as malformed.
public struct NKeyPublicKey: Sendable, Equatable, CustomStringConvertible {
    /// Why a text is not a user's public key.
    public enum Invalid: Error, Equatable, Sendable {
        case notBase32
        case wrongLength(Int)
        case notAUserKey(prefix: UInt8)
        case checksumMismatch
    }

    static let userPrefix: UInt8 = 20 << 3
    /// The 32-byte Ed25519 public key.
    public let raw: [UInt8]
    /// The key's text form (`U` and 55 more characters).
    public let description: String

    /// Parses a user's public key from its text form.
    public init(_ text: String) throws(Invalid) {
        guard let decoded = Base32.decode(text) else { throw .notBase32 }
        guard decoded.count == 35 else { throw .wrongLength(decoded.count) }
        guard decoded[0] == Self.userPrefix else { throw .notAUserKey(prefix: decoded[0]) }
        let checksum = UInt16(decoded[33]) | UInt16(decoded[34]) << 8
        guard CRC16.xmodem(decoded[0..<33]) == checksum else { throw .checksumMismatch }
        raw = Array(decoded[1..<33])
        description = text
    }

    /// The text form of a raw 32-byte Ed25519 public key (tests and tools make keys with it).
    public init(raw: [UInt8]) {
        precondition(raw.count == 32, "an Ed25519 public key has 32 bytes")
        var bytes = [Self.userPrefix] + raw
        let checksum = CRC16.xmodem(bytes[...])
        bytes.append(UInt8(checksum & 0xFF))
        bytes.append(UInt8(checksum >> 8))
        self.raw = raw
        self.description = Base32.encode(bytes)
    }

    /// True when `text` is a well-formed user public key (nats-server refuses the config otherwise).
    public static func isValid(_ text: String) -> Bool { (try? NKeyPublicKey(text)) != nil }

    /// True when `signature` is this key's Ed25519 signature of `message`.
    public func verifies(signature: [UInt8], of message: [UInt8]) -> Bool {
        Ed25519.verify(signature: signature, of: message, publicKey: raw)
    }

    /// The signature as CONNECT's `sig` carries it: base64 RawURL (nats-py, nats.go), standard base64 also
    /// accepted, as nats-server does; nil when it is neither.
    public static func decodeSignature(_ text: String) -> [UInt8]? {
        if let raw = Base64.decode(text, urlAlphabet: true) { return raw }
        return Base64.decode(text, urlAlphabet: false)
    }
}

/// RFC 4648 base32 with the standard alphabet and no padding, as NKeys use it.
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String { BitGroups.encode(bytes, bits: 5, alphabet: alphabet) }

    static func decode(_ text: String) -> [UInt8]? {
        BitGroups.decode(text, bits: 5) { character in
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(character - UInt8(ascii: "A"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): return UInt32(character - UInt8(ascii: "2")) + 26
            default: return nil
            }
        }
    }
}

/// Base64 without padding requirements: RawURL (`-`, `_`) or standard (`+`, `/`), padding optional.
enum Base64 {
    static func decode(_ text: String, urlAlphabet: Bool) -> [UInt8]? {
        // Padding may only close the text.
        var body = Substring(text)
        while body.last == "=" { body = body.dropLast() }
        return BitGroups.decode(String(body), bits: 6) { character in
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(character - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(character - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "-") where urlAlphabet, UInt8(ascii: "+") where !urlAlphabet: return 62
            case UInt8(ascii: "_") where urlAlphabet, UInt8(ascii: "/") where !urlAlphabet: return 63
            default: return nil
            }
        }
    }

    /// RawURL encoding (no padding), as a nonce is sent.
    static func encodeRawURL(_ bytes: [UInt8]) -> String {
        BitGroups.encode(bytes, bits: 6, alphabet: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8))
    }
}

/// Bytes written as symbols of `bits` bits each (5: base32, 6: base64), the last one zero-padded, no
/// padding characters.
enum BitGroups {
    static func encode(_ bytes: [UInt8], bits width: Int, alphabet: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        let mask = UInt32(1 << width - 1)
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= width {
                out.append(alphabet[Int(buffer >> UInt32(bits - width) & mask)])
                bits -= width
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(width - bits) & mask)]) }
        return String(decoding: out, as: UTF8.self)
    }
    /// The bytes of symbols of `bits` bits each, each character's value given by `value` (nil: not a
    /// symbol, and the whole text is refused); leftover bits are dropped.
    static func decode(_ text: String, bits width: Int, value: (UInt8) -> UInt32?) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        for character in text.utf8 {
            guard let symbol = value(character) else { return nil }
            buffer = buffer << UInt32(width) | symbol
            bits += width
            if bits >= 8 {
                out.append(UInt8(buffer >> UInt32(bits - 8) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial 0), as NKeys checksum their bytes.
enum CRC16 {
    static func xmodem(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? crc << 1 ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
