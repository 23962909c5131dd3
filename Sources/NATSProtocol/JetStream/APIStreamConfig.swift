#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// A stream's configuration as the JetStream API carries it (`$JS.API.STREAM.CREATE.<name>` body), with
/// nats-server 2.9.10's field names and defaults (-1 = unlimited; durations in ns).
public struct APIStreamConfig: Codable, Equatable, Sendable {
    public enum Retention: String, Codable, Sendable { case limits, interest, workqueue }
    public enum Discard: String, Codable, Sendable { case old, new }
    public enum Storage: String, Codable, Sendable { case file, memory }

    public var name: String
    public var description: String?
    public var subjects: [String]
    public var retention: Retention = .limits
    public var maxConsumers: Int = -1
    public var maxMsgs: Int64 = -1
    public var maxBytes: Int64 = -1
    public var maxAge: Int64 = 0
    public var maxMsgsPerSubject: Int64 = -1
    public var maxMsgSize: Int32 = -1
    public var discard: Discard = .old
    public var storage: Storage = .file
    public var numReplicas: Int = 1
    public var duplicateWindow: Int64 = 120_000_000_000
    public var allowDirect = false
    public var mirrorDirect = false
    public var sealed = false
    public var denyDelete = false
    public var denyPurge = false
    public var allowRollupHdrs = false
    /// The stream this one mirrors (it then has no subjects of its own and keeps the origin's sequences).
    public var mirror: APIStreamSource?
    /// The streams whose messages this one also stores (nil: none; never an empty list).
    public var sources: [APIStreamSource]?
    public var hasMirror: Bool { mirror != nil }
    public var hasSources: Bool { !(sources ?? []).isEmpty }

    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }

    enum CodingKeys: String, CodingKey {
        case name, description, subjects, retention, discard, storage, sealed
        case maxConsumers = "max_consumers", maxMsgs = "max_msgs", maxBytes = "max_bytes", maxAge = "max_age"
        case maxMsgsPerSubject = "max_msgs_per_subject", maxMsgSize = "max_msg_size", numReplicas = "num_replicas"
        case duplicateWindow = "duplicate_window", allowDirect = "allow_direct", mirrorDirect = "mirror_direct"
        case denyDelete = "deny_delete", denyPurge = "deny_purge", allowRollupHdrs = "allow_rollup_hdrs"
        case mirror, sources
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        description = try c.decodeIfPresent(String.self, forKey: .description)
        subjects = try c.decodeIfPresent([String].self, forKey: .subjects) ?? []
        retention = try c.decodeIfPresent(Retention.self, forKey: .retention) ?? .limits
        maxConsumers = try c.decodeIfPresent(Int.self, forKey: .maxConsumers) ?? -1
        maxMsgs = try c.decodeIfPresent(Int64.self, forKey: .maxMsgs) ?? -1
        maxBytes = try c.decodeIfPresent(Int64.self, forKey: .maxBytes) ?? -1
        maxAge = try c.decodeIfPresent(Int64.self, forKey: .maxAge) ?? 0
        maxMsgsPerSubject = try c.decodeIfPresent(Int64.self, forKey: .maxMsgsPerSubject) ?? -1
        maxMsgSize = try c.decodeIfPresent(Int32.self, forKey: .maxMsgSize) ?? -1
        discard = try c.decodeIfPresent(Discard.self, forKey: .discard) ?? .old
        storage = try c.decodeIfPresent(Storage.self, forKey: .storage) ?? .file
        numReplicas = try c.decodeIfPresent(Int.self, forKey: .numReplicas) ?? 1
        duplicateWindow = try c.decodeIfPresent(Int64.self, forKey: .duplicateWindow) ?? 0
        allowDirect = try c.decodeIfPresent(Bool.self, forKey: .allowDirect) ?? false
        mirrorDirect = try c.decodeIfPresent(Bool.self, forKey: .mirrorDirect) ?? false
        sealed = try c.decodeIfPresent(Bool.self, forKey: .sealed) ?? false
        denyDelete = try c.decodeIfPresent(Bool.self, forKey: .denyDelete) ?? false
        denyPurge = try c.decodeIfPresent(Bool.self, forKey: .denyPurge) ?? false
        allowRollupHdrs = try c.decodeIfPresent(Bool.self, forKey: .allowRollupHdrs) ?? false
        mirror = try c.decodeIfPresent(APIStreamSource.self, forKey: .mirror)
        sources = try c.decodeIfPresent([APIStreamSource].self, forKey: .sources).flatMap { $0.isEmpty ? nil : $0 }
        if numReplicas == 0 { numReplicas = 1 }
        // Zero limits mean unlimited, as the reference rewrites them.
        if maxMsgs == 0 { maxMsgs = -1 }
        if maxBytes == 0 { maxBytes = -1 }
        if maxMsgsPerSubject == 0 { maxMsgsPerSubject = -1 }
        if maxMsgSize == 0 { maxMsgSize = -1 }
        if maxConsumers == 0 { maxConsumers = -1 }
        // Unset (or 0): two minutes, or max_age when that is shorter (as the reference).
        // (a mirror keeps 0: it takes the origin's messages as they are, deduplicated there)
        if duplicateWindow == 0 && mirror == nil { duplicateWindow = maxAge > 0 ? min(maxAge, 120_000_000_000) : 120_000_000_000 }
    }
}

/// A JetStream API error, in the reference's shape `{"code","err_code","description"}`.
public struct APIError: Error, Codable, Equatable, Sendable {
    public var code: Int
    public var errCode: Int
    public var description: String

    public init(code: Int, errCode: Int, description: String) {
        self.code = code
        self.errCode = errCode
        self.description = description
    }

    enum CodingKeys: String, CodingKey { case code, errCode = "err_code", description }

    public static let badRequest = APIError(code: 400, errCode: 10003, description: "bad request")
    public static let invalidJSON = APIError(code: 400, errCode: 10025, description: "invalid JSON")
    public static let streamNotFound = APIError(code: 404, errCode: 10059, description: "stream not found")
    public static let streamNameInUse = APIError(code: 400, errCode: 10058, description: "stream name already in use with a different configuration")
    public static let subjectsOverlap = APIError(code: 400, errCode: 10065, description: "subjects overlap with an existing stream")
    public static let noMessageFound = APIError(code: 404, errCode: 10037, description: "no message found")
    public static let messageSizeExceeded = APIError(code: 400, errCode: 10054, description: "message size exceeds maximum allowed")
    public static let replicasNotSupported = APIError(code: 500, errCode: 10074, description: "replicas > 1 not supported in non-clustered mode")
    public static let storageTypeChange = APIError(code: 500, errCode: 10052, description: "stream configuration update can not change storage type")
    public static let streamMismatch = APIError(code: 400, errCode: 10056, description: "stream name in subject does not match request")
    public static let notEnabled = APIError(code: 503, errCode: 10076, description: "JetStream not enabled")
    public static let storeFailed = APIError(code: 503, errCode: 10077, description: "stream store failed")
    /// (nats-server 2.9 answers these as a failed delete, 500/10057, and a failed purge, 500/10110)
    public static let deleteDenied = APIError(code: 500, errCode: 10057, description: "message delete not permitted")
    public static let purgeDenied = APIError(code: 500, errCode: 10110, description: "stream purge not permitted")
    public static let streamSealed = APIError(code: 400, errCode: 10109, description: "invalid operation on sealed stream")
    public static let unsupported = APIError(code: 501, errCode: 10003, description: "not implemented by strata yet")

    public static let consumerNotFound = APIError(code: 404, errCode: 10014, description: "consumer not found")
    public static let consumerExists = APIError(code: 400, errCode: 10013, description: "consumer name already in use")

    public static func wrongLastSequence(_ last: UInt64) -> APIError {
        APIError(code: 400, errCode: 10071, description: "wrong last sequence: \(last)")
    }

    public static func configInvalid(_ why: String) -> APIError {
        APIError(code: 400, errCode: 10052, description: why)
    }
}
