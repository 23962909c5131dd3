import Foundation
import NATSConfig
import Platform
import Testing

/// Bad input of every shape gets a ConfigError with a location, never a crash or a hang.
@Suite struct ConfigParserRobustnessTests {
    let parser = ConfigParser(environment: ["SELF": "$SELF", "PING": "$PONG", "PONG": "$PING"]) { _ in "" }

    @Test func deepNestingIsAnError() {
        for (start, opener) in [("x: ", "["), ("x: ", "{ a: "), ("x { ", "a { ")] {
            let text = start + String(repeating: opener, count: 10_000)
            let error = #expect(throws: ConfigError.self) { try parser.parse(text, file: "deep.conf") }
            #expect(error?.message.contains("nested more than 64 deep") == true, "\(opener): \(String(describing: error))")
        }
        // 64 levels are fine.
        let fine = "x: " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parser.parse(fine, file: "ok.conf") }
    }

    @Test func environmentVariablesReferringToThemselvesAreAnError() {
        for name in ["SELF", "PING"] {
            let error = #expect(throws: ConfigError.self) { try parser.parse("x: $\(name)", file: "env.conf") }
            #expect(error?.message.contains("refers to itself") == true, "\(String(describing: error))")
        }
    }

    /// Every golden file, mutated many ways (bytes dropped, doubled, replaced with the format's special
    /// characters, cut short): each parse either gives a map or a ConfigError inside the text.
    @Test func mutatedFilesParseOrFailCleanly() throws {
        let directory = Bundle.module.url(forResource: "Golden", withExtension: nil)!.path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".conf") }
        let specials = Array("{}[]()\"'$#/\\:=,;\n\t 0k.-".utf8)
        var random = SplitMix64(seed: 0x5EED)
        var failures = 0, parses = 0
        for name in names {
            let original = Array(try String(contentsOfFile: directory + "/" + name, encoding: .utf8).utf8)
            guard !original.isEmpty else { continue }
            for _ in 0..<300 {
                var bytes = original
                for _ in 0...(random.next() % 4) {
                    let at = Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 4 {
                    case 0: bytes.remove(at: at)
                    case 1: bytes.insert(bytes[at], at: at)
                    case 2: bytes[at] = specials[Int(random.next() % UInt64(specials.count))]
                    default: bytes = Array(bytes[..<at])
                    }
                    if bytes.isEmpty { bytes = [UInt8(ascii: "{")] }
                }
                let text = String(decoding: bytes, as: UTF8.self)
                do {
                    _ = try parser.parse(text, file: name)
                    parses += 1
                } catch {
                    failures += 1
                    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
                    #expect(error.location.line >= 0 && error.location.line <= lines + 1, "\(name): \(error)")
                    #expect(!error.message.isEmpty)
                }
            }
        }
        #expect(parses > 0 && failures > 0)  // (both outcomes were exercised)
    }
}

