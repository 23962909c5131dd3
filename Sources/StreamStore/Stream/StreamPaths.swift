/// The paths of one stream directory (Specs/StoreLayout.md).
struct StreamPaths: Sendable {
    let root: String
    var config: String { root + "/stream.json" }
    var lock: String { root + "/LOCK" }
    var segments: String { root + "/segments" }
    var index: String { root + "/index" }
    var dictionaries: String { root + "/dict" }

    func segment(_ firstSequence: UInt64) -> String {
        segments + "/" + SegmentHeader.fileName(firstSequence: firstSequence)
    }

    func compactionOutput(_ firstSequence: UInt64) -> String { segment(firstSequence) + ".compact" }
}
