import LMDB
@testable import StreamStore

/// The values of a stream's LMDB index (Specs/IndexSchema.md), as a damaged index file would hand them to the
/// reader: the first input byte picks the value kind. Invariants: a value that is not exactly one well-formed
/// encoding decodes to nil; one that decodes encodes to bytes that decode to the same value.
enum IndexTarget {
    static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        bytes.withUnsafeBytes { raw in
            switch selector % 4 {
            case 0:
                guard let location = MessageLocation(raw) else { return }
                let again = location.encoded().withBytes { MessageLocation($0) }
                FuzzCheck.require(again == location, "location changes through its encoding")
            case 1:
                guard let marker = IndexMarker(raw) else { return }
                FuzzCheck.require(marker.unsyncedFrom <= marker.endOffset, "marker's unsynced start past its end")
                FuzzCheck.require(marker.encoded().withUnsafeBytes { IndexMarker($0) } == marker, "marker changes through its encoding")
            case 2:
                guard let meta = PersistentState(raw) else { return }
                FuzzCheck.require(meta.encoded().withUnsafeBytes { PersistentState($0) } == meta, "stream state changes through its encoding")
            default:
                guard let entry = SubjectEntry(raw) else { return }
                FuzzCheck.require(entry.encoded().withBytes { SubjectEntry($0) } == entry, "subject entry changes through its encoding")
            }
        }
    }
}
