#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Platform

/// The subject ids a wildcard filter matches, remembered per filter with the subject-set version they were
/// found at: the stream's subject count and next subject id, which together change with every subject that
/// enters or leaves the stream (ids only grow; a subject leaving lowers the count). A consumer's every
/// delivery counts its pending messages; with this, a wildcard filter's matching subjects are scanned once
/// per change of the subject set, not once per delivery. Emptied when the index is cleared (ids restart).
final class SubjectIDCache: @unchecked Sendable {
    struct Version: Equatable { var subjects: UInt64; var nextSubjectID: UInt64 }
    /// The ids (nil: more than `limit` matched).
    private struct Entry { var version: Version; var ids: [UInt64]? }
    private let lock = Lock()
    private var entries: [String: Entry] = [:]
    /// The most ids remembered for a filter; a filter matching more is remembered as "too many".
    static let limit = 64
    /// Filters remembered at most (all are forgotten when a new one would pass it).
    static let capacity = 256

    func lookup(_ filter: String, at version: Version) -> [UInt64]?? {
        lock.withLock {
            guard let entry = entries[filter], entry.version == version else { return nil }
            return .some(entry.ids)
        }
    }

    func store(_ filter: String, at version: Version, ids: [UInt64]?) {
        lock.withLock {
            if entries[filter] == nil && entries.count >= SubjectIDCache.capacity { entries.removeAll() }
            entries[filter] = Entry(version: version, ids: ids)
        }
    }

    func removeAll() { lock.withLock { entries.removeAll() } }
}
