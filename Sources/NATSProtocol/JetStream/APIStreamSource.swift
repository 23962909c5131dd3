/// Where a mirror or a source takes its messages from (a stream config's `mirror`, or one of its
/// `sources`), with nats-server 2.9.10's field names: the origin stream's `name`, where to start the
/// first time (`opt_start_seq` or `opt_start_time`), a `filter_subject`, and `external` for a stream
/// reached through another API prefix (another JetStream domain across a leaf connection, say).
public struct APIStreamSource: Codable, Equatable, Sendable {
    /// The API and delivery prefixes of an origin in another domain or account (`{"api","deliver"}`).
    public struct External: Codable, Equatable, Sendable {
        /// Replaces `$JS.API` in the consumer requests (`$JS.hub.API`, say).
        public var api: String
        /// Put before the delivery subject (empty: the origin delivers to `$JS.M.…` / `$JS.S.…` as is).
        public var deliver: String

        public init(api: String, deliver: String = "") {
            self.api = api
            self.deliver = deliver
        }

        enum CodingKeys: String, CodingKey { case api, deliver }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            api = try c.decodeIfPresent(String.self, forKey: .api) ?? ""
            deliver = try c.decodeIfPresent(String.self, forKey: .deliver) ?? ""
        }
    }

    public var name: String
    /// The origin sequence to start at the first time (0: not set).
    public var optStartSeq: UInt64 = 0
    /// The time to start at the first time (RFC 3339, as the client wrote it; nil: not set).
    public var optStartTime: String?
    public var filterSubject: String?
    public var external: External?

    public init(name: String, optStartSeq: UInt64 = 0, optStartTime: String? = nil, filterSubject: String? = nil, external: External? = nil) {
        self.name = name
        self.optStartSeq = optStartSeq
        self.optStartTime = optStartTime
        self.filterSubject = filterSubject
        self.external = external
    }

    enum CodingKeys: String, CodingKey {
        case name, external
        case optStartSeq = "opt_start_seq", optStartTime = "opt_start_time", filterSubject = "filter_subject"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        optStartSeq = try c.decodeIfPresent(UInt64.self, forKey: .optStartSeq) ?? 0
        optStartTime = try c.decodeIfPresent(String.self, forKey: .optStartTime)
        filterSubject = try c.decodeIfPresent(String.self, forKey: .filterSubject).flatMap { $0.isEmpty ? nil : $0 }
        external = try c.decodeIfPresent(External.self, forKey: .external)
    }

    /// As the reference writes it: fields left at their zero value are omitted.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        if optStartSeq > 0 { try c.encode(optStartSeq, forKey: .optStartSeq) }
        try c.encodeIfPresent(optStartTime, forKey: .optStartTime)
        try c.encodeIfPresent(filterSubject, forKey: .filterSubject)
        try c.encodeIfPresent(external, forKey: .external)
    }
}
