#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Platform

/// A `.creds` file as `nsc` writes it: a user JWT and the user's NKey seed, each between `-----BEGIN …-----`
/// and `------END …------` lines (nats-server's `credsRe`: the first block is the JWT, the second the
/// seed). The seed is never logged.
public struct CredentialsFile: Sendable {
    public let jwt: String
    public let seed: NKeySeed

    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        case unreadable(String)
        case malformed
        case badSeed

        public var description: String {
            switch self {
            case .unreadable(let why): "credentials file cannot be read: \(why)"
            case .malformed: "credentials file malformed (a user JWT block and a seed block were expected)"
            case .badSeed: "credentials file has a malformed seed"
            }
        }
    }

    /// Parses the file's text.
    public init(parsing text: String) throws(Invalid) {
        var blocks: [String] = []
        var inside = false
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = String(line).trimmingWhitespace(newlines: true)
            let isDelimiter = trimmed.hasPrefix("---") && trimmed.hasSuffix("---") && trimmed.count >= 6
            if isDelimiter {
                if inside { blocks.append(current); current = "" }
                inside.toggle()
            } else if inside, !trimmed.isEmpty {
                current += trimmed
            }
        }
        guard blocks.count >= 2, !blocks[0].isEmpty else { throw .malformed }
        jwt = blocks[0]
        do { seed = try NKeySeed(blocks[1]) } catch { throw .badSeed }
    }

    /// Reads and parses the file at `path`.
    public static func read(_ path: String) throws(Invalid) -> CredentialsFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable("no file at \(path)") }
        return try CredentialsFile(parsing: String(decoding: data, as: UTF8.self))
    }
}
