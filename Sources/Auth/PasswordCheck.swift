import CCrypt

/// How a configured password or token is compared with what a client sent, as nats-server does: a value in
/// bcrypt form (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a two-digit cost, `$`) is checked with bcrypt (libxcrypt's
/// `crypt_rn`), any other is compared as plain text in constant time.
///
/// bcrypt is slow by design (tens to hundreds of milliseconds at the usual costs): ``isExpensive(_:)`` tells
/// a caller to run such a check off its event loop.
public enum PasswordCheck {
    /// True when `configured` is a bcrypt hash (nats-server's `^\$2[abxy]\$\d{2}\$.*`).
    public static func isBcrypt(_ configured: String) -> Bool {
        let bytes = Array(configured.utf8)
        guard bytes.count >= 7, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "x"), UInt8(ascii: "y")].contains(bytes[2]),
              bytes[3] == UInt8(ascii: "$"), isDigit(bytes[4]), isDigit(bytes[5]), bytes[6] == UInt8(ascii: "$")
        else { return false }
        return true
    }

    /// True when checking against `configured` costs a bcrypt computation.
    public static func isExpensive(_ configured: String) -> Bool { isBcrypt(configured) }

    /// True when `given` (what the client sent) matches `configured` (from the config file).
    public static func matches(_ given: String?, configured: String) -> Bool {
        let given = given ?? ""
        if isBcrypt(configured) { return bcryptMatches(given, hash: configured) }
        return constantTimeEqual(Array(given.utf8), Array(configured.utf8))
    }

    /// Compares without an early exit on the first differing byte (the time depends on the lengths only).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        var i = 0
        while i < n {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            difference |= x ^ y
            i += 1
        }
        return difference == 0
    }

    /// bcrypt of `password` with the salt and cost of `hash`, compared with `hash` in constant time. A hash
    /// libxcrypt cannot read (a wrong length, a bad character) matches nothing.
    static func bcryptMatches(_ password: String, hash: String) -> Bool {
        // bcrypt reads at most 72 bytes of the password; a NUL would end it early in C, so refuse one.
        guard !password.utf8.contains(0), !hash.utf8.contains(0) else { return false }
        let size = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<crypt_data>.alignment)
        defer {
            data.initializeMemory(as: UInt8.self, repeating: 0, count: size)  // (the password passed through it)
            data.deallocate()
        }
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        guard let result = crypt_rn(password, hash, data, Int32(size)) else { return false }
        let computed = Array(String(cString: result).utf8)
        return constantTimeEqual(computed, Array(hash.utf8))
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
