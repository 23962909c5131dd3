#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

extension ConfigParser {
    /// A parser that reads files from disk and variables from this process's environment.
    public static func system() -> ConfigParser {
        ConfigParser(environment: ProcessInfo.processInfo.environment) { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReadFailure(description: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw ReadFailure(description: "not UTF-8 text") }
            return text
        }
    }

    struct ReadFailure: Error, CustomStringConvertible { var description: String }
}
