import Foundation
import NATSConfig
import Testing

/// Golden files: each `Golden/<name>.conf` is parsed and its dump (or error) compared with
/// `Golden/<name>.golden`. Files are read from the test bundle through the parser's file seam, so the
/// paths in locations and errors are the golden-relative ones.
@Suite struct ConfigParserGoldenTests {
    static let directory = Bundle.module.url(forResource: "Golden", withExtension: nil)!.path
    static let environment = ["STRATA_TEST_NUMBER": "42", "STRATA_TEST_WORD": "hello"]

    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".golden") }.map { String($0.dropLast(7)) }.sorted()
    }

    static func parser() -> ConfigParser {
        ConfigParser(environment: environment) { path in
            guard let data = FileManager.default.contents(atPath: directory + "/" + path) else {
                throw Missing()
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    struct Missing: Error, CustomStringConvertible { var description: String { "no such file" } }

    @Test(arguments: cases)
    func golden(_ name: String) throws {
        let expected = try String(contentsOfFile: Self.directory + "/\(name).golden", encoding: .utf8)
        let actual: String
        do {
            actual = Self.dump(try Self.parser().parse(file: "\(name).conf"), root: "\(name).conf")
        } catch {
            actual = "error: \(error)\n"
        }
        #expect(actual == expected, "\(name): got\n\(actual)")
    }

    @Test func goldenCasesAreAllThere() {
        // Every bad-input case the format has: a missing golden file would silently drop one.
        let required = ["full", "json", "include", "variables", "bad-unterminated-block", "bad-unterminated-string",
                        "bad-unterminated-array", "bad-unknown-variable", "bad-include-loop", "bad-include-missing",
                        "bad-missing-value", "bad-escape", "bad-integer-range", "bad-size-range", "bad-stray-brace",
                        "bad-two-values", "bad-block-string"]
        #expect(Set(required).isSubset(of: Set(Self.cases)))
    }

    static func dump(_ map: ConfigMap, root: String, indent: String = "") -> String {
        var out = ""
        for entry in map.entries {
            let at = entry.keyLocation.file == root
                ? "\(entry.keyLocation.line):\(entry.keyLocation.column)" : entry.keyLocation.description
            out += "\(indent)\(entry.key) @\(at)\(entry.usedAsVariable ? " (used)" : "") = "
            out += dump(entry.value, root: root, indent: indent)
        }
        return out
    }

    static func dump(_ value: ConfigValue, root: String, indent: String) -> String {
        switch value.kind {
        case .string(let text): return "string \(quoted(text))\n"
        case .integer(let n): return "integer \(n)\n"
        case .float(let x): return "float \(x)\n"
        case .bool(let b): return "bool \(b)\n"
        case .map(let map): return "map\n" + dump(map, root: root, indent: indent + "  ")
        case .array(let values):
            return "array\n" + values.map { "\(indent)  - " + dump($0, root: root, indent: indent + "  ") }.joined()
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(character)
            }
        }
        return out + "\""
    }
}
