import NATSProtocol
import Subjects

/// The interest one leaf connection has declared to the other side, counted per key as nats-server's
/// `smap` is: `subject` for plain subscriptions, `subject queue` for a queue group, whose count is its
/// weight (its number of members). Pure: a change returns the line to send, if any.
struct LeafInterest: Equatable {
    /// What to send the other side after a change.
    enum Update: Equatable {
        /// `LS+ key` (with the weight, for a queue group).
        case add(LeafInterestKey, weight: Int)
        /// `LS- key`.
        case remove(LeafInterestKey)
    }

    private(set) var counts: [LeafInterestKey: Int] = [:]

    /// Counts `delta` more (or fewer) subscriptions under `key`. A plain key is sent when it appears or
    /// goes; a queue key at every change, since its weight changed (`updateSmap`).
    mutating func change(_ key: LeafInterestKey, by delta: Int) -> Update? {
        let before = counts[key] ?? 0
        let after = before + delta
        let send = key.queue != nil || before == 0 || after <= 0
        if after > 0 { counts[key] = after } else { counts[key] = nil }
        guard send else { return nil }
        return after > 0 ? .add(key, weight: after) : .remove(key)
    }

    /// Every key with its count, for the first burst of `LS+` after CONNECT.
    var all: [(key: LeafInterestKey, weight: Int)] { counts.map { ($0.key, $0.value) }.sorted { $0.key.description < $1.key.description } }
}

/// What may cross one leaf connection, as nats-server merges it onto the connection (`deny_imports`,
/// `deny_exports`, and the JetStream denies when the two sides' domains differ). Pure.
///
/// - `denyImports`: interest in these is never declared to the other side (so nothing on them comes in);
///   a message on them that comes in anyway is dropped.
/// - `denyExports`: nothing on these is sent to the other side, and its interest in them is ignored.
struct LeafPermissions: Equatable {
    var denyImports: [String] = [] { didSet { importsDenyOnlyDollar = Self.onlyDollar(denyImports) } }
    var denyExports: [String] = [] { didSet { exportsDenyOnlyDollar = Self.onlyDollar(denyExports) } }
    /// Every deny entry starts with `$` (JetStream's denies, nearly always all there is): a subject that does
    /// not is then decided with one byte, not a match per entry (each forwarded message asks).
    private var importsDenyOnlyDollar = true
    private var exportsDenyOnlyDollar = true

    private static func onlyDollar(_ filters: [String]) -> Bool { filters.allSatisfy { $0.utf8.first == UInt8(ascii: "$") } }

    init(denyImports: [String] = [], denyExports: [String] = [], allowImports: [String]? = nil, allowExports: [String]? = nil) {
        self.denyImports = denyImports
        self.denyExports = denyExports
        self.allowImports = allowImports
        self.allowExports = allowExports
        importsDenyOnlyDollar = Self.onlyDollar(denyImports)
        exportsDenyOnlyDollar = Self.onlyDollar(denyExports)
    }
    /// What the hub allows its leaf user to receive (`import`) and send (`export`); nil: everything.
    var allowImports: [String]?
    var allowExports: [String]?

    /// nats-server's `denyAllClientJs`: added both ways when JetStream is not extended across the link.
    static let jetStreamDenied = ["$JS.API.>", "$KV.>", "$OBJ.>"]

    /// The permissions of a connection to a remote with these deny lists, on a server with JetStream domain
    /// `domain` (nil: none) whose other side has domain `remoteDomain`. As nats-server 2.9.10's
    /// `addLeafNodeConnection` for an account that is not the system account: JetStream's API, `$KV` and
    /// `$OBJ` are denied both ways (each side's own JetStream is reached through its domain's prefix); when
    /// the domains differ, requests for this server's own domain do not leave it.
    ///
    /// `hubImport` and `hubExport` are the permissions the hub sent for its leaf user (its INFO's `import`
    /// and `export`), merged in as nats-server's `processLeafnodeInfo` merges them.
    static func forConnection(denyImports: [String], denyExports: [String], domain: String?, remoteDomain: String?,
                              hasJetStream: Bool, hubImport: LeafSubjectPermission? = nil,
                              hubExport: LeafSubjectPermission? = nil) -> LeafPermissions {
        var permissions = LeafPermissions(denyImports: denyImports + jetStreamDenied + (hubImport?.deny ?? []),
                                          denyExports: denyExports + jetStreamDenied + (hubExport?.deny ?? []),
                                          allowImports: hubImport?.allow, allowExports: hubExport?.allow)
        if let domain, hasJetStream, domain != remoteDomain { permissions.denyExports.append("$JS.\(domain).API.>") }
        return permissions
    }

    /// Loop detection subjects are always declared, whatever the deny lists say.
    static func isLoopDetection(_ subject: String) -> Bool { subject.hasPrefix(LeafProtocol.loopDetectionPrefix) }

    /// Whether interest in `filter` is declared to the other side.
    func declares(_ filter: String) -> Bool {
        if Self.isLoopDetection(filter) { return true }
        if let allowImports, !allowImports.contains(where: { Subject.isSubset(filter, of: $0) }) { return false }
        return !denyImports.contains { Subject.isSubset(filter, of: $0) }
    }

    /// Whether a message that came in on `subject` is taken.
    func accepts(_ subject: String) -> Bool {
        if let allowImports, !allowImports.contains(where: { Subject.matches(subject, filter: $0) }) { return false }
        if importsDenyOnlyDollar && subject.utf8.first != UInt8(ascii: "$") { return true }
        return !denyImports.contains { Subject.matches(subject, filter: $0) }
    }

    /// Whether the other side's interest in `filter` is kept: for a literal subject, not when it is denied
    /// (nats-server ignores such an `LS+`).
    func keepsInterest(in filter: String) -> Bool {
        if Self.isLoopDetection(filter) || Subject.hasWildcard(filter) { return true }
        return sends(filter)
    }

    /// Whether a message on `subject` is sent to the other side.
    func sends(_ subject: String) -> Bool {
        if let allowExports, !allowExports.contains(where: { Subject.matches(subject, filter: $0) }) { return false }
        if exportsDenyOnlyDollar && subject.utf8.first != UInt8(ascii: "$") { return true }
        return !denyExports.contains { Subject.matches(subject, filter: $0) }
    }
}
