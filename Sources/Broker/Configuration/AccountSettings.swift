import Subjects

/// One account as nats-server's `accounts { NAME: { … } }` configures it: whether it has JetStream and with
/// which limits, what it exports to other accounts and what it imports from them. (Its users are in
/// ``BrokerConfiguration/auth``, each with its account's name.)
public struct AccountSettings: Sendable, Equatable {
    public var name: String
    /// nil: no JetStream for this account.
    public var jetStream: JetStreamLimits?
    public var exports: [Export] = []
    public var imports: [Import] = []

    public init(name: String) { self.name = name }

    /// An account's JetStream limits; -1 is unlimited (memory and file bytes then fall back to the server's).
    public struct JetStreamLimits: Sendable, Equatable {
        public var maxMemory: Int64 = -1
        public var maxFile: Int64 = -1
        public var maxStreams = -1
        public var maxConsumers = -1
        public init() {}
    }

    public enum Kind: String, Sendable, Equatable { case stream, service }

    /// Subjects other accounts may import, from any account or only from those listed.
    public struct Export: Sendable, Equatable {
        public var kind: Kind
        public var subject: String
        public var accounts: [String]?
        public init(kind: Kind, subject: String, accounts: [String]? = nil) {
            self.kind = kind
            self.subject = subject
            self.accounts = accounts
        }
    }

    /// A stream import: messages published in `account` on `subject` are delivered here too, under
    /// `prefix.subject` when a prefix is given. A service import: requests published here on `to` (or on
    /// `subject` when `to` is nil) are delivered in `account` on `subject`, and the reply comes back.
    public struct Import: Sendable, Equatable {
        public var kind: Kind
        public var account: String
        public var subject: String
        public var prefix: String?
        public var to: String?
        public init(kind: Kind, account: String, subject: String, prefix: String? = nil, to: String? = nil) {
            self.kind = kind
            self.account = account
            self.subject = subject
            self.prefix = prefix
            self.to = to
        }

        /// The subject this import is published on or delivered under in the importing account.
        public var localSubject: String {
            switch kind {
            case .service: return to ?? subject
            case .stream: return prefix.map { "\($0).\(subject)" } ?? (to ?? subject)
            }
        }
    }

    /// Why `accounts` cannot be used (an import of an unknown account or of nothing it exports); nil when
    /// they can.
    public static func validate(_ accounts: [AccountSettings]) -> String? {
        var names = Set<String>()
        for account in accounts {
            guard !account.name.isEmpty, !account.name.contains("/"), account.name != "." && account.name != ".." else {
                return "account name \"\(account.name)\" cannot be used"
            }
            if !names.insert(account.name).inserted { return "duplicate account \"\(account.name)\"" }
        }
        for account in accounts {
            for item in account.imports {
                guard let exporter = accounts.first(where: { $0.name == item.account }) else {
                    return "account \"\(account.name)\": import from unknown account \"\(item.account)\""
                }
                let exported = exporter.exports.contains { export in
                    export.kind == item.kind && Subject.isSubset(item.subject, of: export.subject)
                        && (export.accounts?.contains(account.name) ?? true)
                }
                guard exported else {
                    return "account \"\(account.name)\": \(item.kind.rawValue) import of \"\(item.subject)\" is not exported to it by \"\(item.account)\""
                }
            }
        }
        return nil
    }
}
