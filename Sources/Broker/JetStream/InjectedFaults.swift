#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Dispatch
import Logging
import StreamStore

/// Faults a test injects into a running server's file streams: a failed sync, or a file system gone
/// read-only. Debug builds only (a release build always uses the real file system).
///
/// With `STRATA_TEST_FAULTS=<path>` in the environment, the streams do their log I/O through a
/// ``FaultInjectingFileSystem``, and a watcher thread looks for a file at `<path>` every 20 ms. Its first
/// word selects the fault, which takes effect before the file is removed (the test waits for the removal):
/// `fail-sync` (the next file sync fails with EIO), `read-only` (every change fails with EROFS) or `clear`.
/// The LMDB index does its own I/O and is not affected.
enum InjectedFaults {
    static let variable = "STRATA_TEST_FAULTS"

    /// The file system for the server's streams.
    static func fileSystem(logger: Logger) -> any FileSystem {
        #if DEBUG
        guard let trigger = ProcessInfo.processInfo.environment[variable], !trigger.isEmpty else { return POSIXFileSystem() }
        logger.warning("test build: faults are injected into file streams on request (\(variable)=\(trigger))")
        let faults = FaultInjectingFileSystem()
        DispatchQueue(label: "strata.test-faults").async {
            while true {
                if let text = try? String(contentsOfFile: trigger, encoding: .utf8) {
                    let word = text.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
                    switch word {
                    case "fail-sync": faults.inject(.failSync(n: 1))
                    case "read-only": faults.inject(.readOnly)
                    case "clear": faults.inject(nil)
                    default: logger.error("\(variable): unknown fault \(word)")
                    }
                    logger.warning("test build: fault \(word) injected")
                    unlink(trigger)
                }
                usleep(20_000)
            }
        }
        return faults
        #else
        return POSIXFileSystem()
        #endif
    }
}
