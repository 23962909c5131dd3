#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing

/// Every fuzz target over its kept corpus (Tests/Fuzz/Corpus/<target>: seeds, what `make fuzz-merge` kept, and
/// the inputs that once broke a target). A broken invariant stops the test process, as it stops libFuzzer.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appending(path: "Corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusKeepsEveryInvariant(_ target: FuzzTarget) throws {
        let directory = Self.corpus.appending(path: target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names.count >= 5, "corpus of \(target.rawValue) holds \(names.count) inputs")
        for name in names {
            let data = try #require(FileManager.default.contents(atPath: directory.appending(path: name).path))
            target.run(Array(data))
        }
    }
}
