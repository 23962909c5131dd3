#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform
import NIOCore
import Subjects

/// One account: its own subject space (a ``Router``), its own JetStream (or none), and the subjects it
/// shares with other accounts. A connection is in exactly one account; a message published there reaches
/// that account's subscriptions and streams only, plus what the account's imports and exports carry across.
///
/// The import tables are fixed when the server starts; response mappings (the reply subjects of service
/// requests that crossed in) change at run time, under a lock.
final class Account: @unchecked Sendable {
    let name: String
    let router = Router()
    /// nil: no JetStream for this account.
    let jetStream: JetStreamService?
    /// The server has JetStream but this account has not: `$JS.API.>` is answered with 10039.
    let jetStreamRefused: Bool
    /// Service imports: requests published here on `local` go to `exporter` on its subject.
    private(set) var serviceImports: [(local: String, subject: String, exporter: Account)] = []
    /// Stream exports taken by other accounts: a message published here on a subject under `filter` is also
    /// delivered in `importer`, under `prefix` when there is one.
    private(set) var streamImporters: [(filter: String, importer: Account, prefix: String?, to: String?)] = []
    /// True when either table is non-empty (one check for a publish in an account that shares nothing).
    private(set) var shares = false

    private let responsesLock = Lock()
    /// `_R_.…` reply subjects given to requests that came in through a service import: where the one
    /// response goes (the importer and the requester's own reply subject).
    private var responses: [String: (importer: Account, reply: String, opened: ContinuousClock.Instant)] = [:]
    /// Past this many open mappings, those older than ``responseLifetime`` are dropped (requests never
    /// answered); past ``responseLimit`` all are.
    private static let responsePruneAt = 10_000
    private static let responseLimit = 100_000
    static let responseLifetime = Duration.seconds(120)
    /// The count at which the next prune runs (doubles with what stays, so pruning is amortised O(1)).
    private var pruneAt = Account.responsePruneAt
    static let responsePrefix = "_R_."

    /// The subject this account declares over its leaf connections to detect a loop (nats-server's `lds`):
    /// the same subject coming back means a message would reach this account again.
    let loopDetectionSubject = LeafProtocol.loopDetectionPrefix + SubjectMapping.randomToken() + SubjectMapping.randomToken()
        + SubjectMapping.randomToken()
    private let leavesLock = Lock()
    private var leaves: [ObjectIdentifier: LeafConnection] = [:]

    /// The leaf connections bound to this account, established ones only.
    var leafConnections: [LeafConnection] { leavesLock.withLock { Array(leaves.values) } }
    func attach(_ leaf: LeafConnection) { leavesLock.withLock { leaves[ObjectIdentifier(leaf)] = leaf } }
    func detach(_ leaf: LeafConnection) { _ = leavesLock.withLock { leaves.removeValue(forKey: ObjectIdentifier(leaf)) } }

    init(name: String, jetStream: JetStreamService?, jetStreamRefused: Bool) {
        self.name = name
        self.jetStream = jetStream
        self.jetStreamRefused = jetStreamRefused
    }

    func addServiceImport(local: String, subject: String, from exporter: Account) {
        serviceImports.append((local, subject, exporter))
        shares = true
    }

    func addStreamImporter(filter: String, importer: Account, prefix: String?, to: String?) {
        streamImporters.append((filter, importer, prefix, to))
        shares = true
    }

    /// The exporter and its subject for a request published here on `subject`, when a service import takes it.
    func serviceImport(for subject: String) -> (subject: String, exporter: Account)? {
        for item in serviceImports where Subject.matches(subject, filter: item.local) {
            return (SubjectMapping.map(subject, from: item.local, to: item.subject), item.exporter)
        }
        return nil
    }

    /// A fresh `_R_.` reply subject in this account that routes its one response to `reply` in `importer`.
    func openResponse(to reply: String, in importer: Account) -> String {
        let subject = Self.responsePrefix + SubjectMapping.randomToken() + "." + SubjectMapping.randomToken()
        let now = ContinuousClock.now
        responsesLock.withLock {
            if responses.count >= pruneAt {
                responses = responses.filter { now - $0.value.opened < Self.responseLifetime }
                if responses.count >= Self.responseLimit { responses.removeAll() }
                pruneAt = max(Self.responsePruneAt, responses.count * 2)
            }
            responses[subject] = (importer, reply, now)
        }
        return subject
    }

    /// Where a response published here on `subject` goes, once (nil for any other subject).
    @inline(__always)
    func takeResponse(_ subject: String) -> (importer: Account, reply: String)? {
        guard subject.utf8.first == UInt8(ascii: "_") else { return nil }  // (every publish asks: one byte decides)
        return takeOpenedResponse(subject)
    }

    @inline(never)  // (kept out of the hot path: inlined, its types' metadata was looked up on every publish)
    private func takeOpenedResponse(_ subject: String) -> (importer: Account, reply: String)? {
        guard subject.hasPrefix(Self.responsePrefix) else { return nil }
        return responsesLock.withLock { responses.removeValue(forKey: subject).map { ($0.importer, $0.reply) } }
    }
}

/// How an import renames subjects. Pure.
enum SubjectMapping {
    /// `subject` (matching filter `from`) under filter `to`: literal filters map whole; with wildcards,
    /// the tokens `subject` has where `from` has `*` or `>` take the places of `to`'s wildcards, in order.
    static func map(_ subject: String, from: String, to: String) -> String {
        if from == to { return subject }
        guard Subject.hasWildcard(from) else { return to }
        let subjectTokens = subject.subjectTokens()
        let fromTokens = from.subjectTokens()
        var captured: [String] = []
        for (i, token) in fromTokens.enumerated() where i < subjectTokens.count {
            if token == "*" { captured.append(String(subjectTokens[i])) }
            if token == ">" { captured.append(subjectTokens[i...].joined(separator: ".")); break }
        }
        var out: [String] = []
        var next = 0
        for token in to.subjectTokens() {
            if (token == "*" || token == ">") && next < captured.count {
                out.append(captured[next]); next += 1
            } else {
                out.append(String(token))
            }
        }
        return out.joined(separator: ".")
    }

    /// The subject a stream import delivers `subject` under in the importing account.
    static func imported(_ subject: String, filter: String, prefix: String?, to: String?) -> String {
        if let prefix { return prefix + "." + subject }
        if let to { return map(subject, from: filter, to: to) }
        return subject
    }

    static func randomToken() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }, as: UTF8.self)
    }
}
