#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
@testable import Broker
import DynamicJSON
import NIOCore
import Platform

/// One JetStream API request, as a client sends it: the input's first line is the subject after `$JS.API.`,
/// the rest is the body. The service runs on a store in a directory of its own (under /dev/shm when it exists,
/// sync `none`), and every stream a request created is deleted before the next input, so that each input is
/// judged alone. Invariants: every answer is one JSON object with a `type` (or, for a pull, nothing), an error
/// answer carries a numeric `code` and a `description`, and the service still answers `INFO` afterwards.
enum JetStreamAPITarget {
    nonisolated(unsafe) static var service: JetStreamService = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let directory = "\(base)/strata-fuzz-js-\(getpid())"
        mkdir(directory, 0o755)
        atexit { _ = JetStreamAPITarget.removeStore() }
        return try! JetStreamService(storeDirectory: directory, sync: .none, maxMemoryStore: 64 << 20, maxFileStore: 256 << 20)
    }()

    static func run(_ input: [UInt8]) {
        let newline = input.firstIndex(of: 10) ?? input.count
        let subject = "$JS.API." + String(decoding: input[..<newline], as: UTF8.self)
        var body = ByteBuffer()
        if newline < input.count { body.writeBytes(input[(newline + 1)...]) }
        let answer = call(subject, body)
        if let answer { check(answer, for: subject) }
        // (the pull and direct-get paths answer through `send`; the API answers them with nil)
        for stream in service.streams.all { try? service.streams.delete(stream.config.name) }
        let info = call("$JS.API.INFO", ByteBuffer())
        FuzzCheck.require(info.map { JSONReader.object(Array($0.utf8))?["type"] != nil } ?? false, "INFO unanswered after \(subject)")
    }

    static func check(_ answer: String, for subject: String) {
        guard let object = JSONReader.object(Array(answer.utf8)) else {
            FuzzCheck.require(false, "answer to \(subject) is not a JSON object: \(answer.prefix(200))")
            return
        }
        FuzzCheck.require(object["type"] is String, "answer to \(subject) has no type: \(answer.prefix(200))")
        if let error = object["error"] {
            let fields = error as? [String: Any]
            FuzzCheck.require(fields?["code"] is Int && fields?["description"] is String, "malformed error in \(answer.prefix(200))")
        }
    }

    /// The API's answer, awaited on this thread (libFuzzer calls targets synchronously).
    static func call(_ subject: String, _ body: ByteBuffer) -> String? {
        let done = Condition()
        nonisolated(unsafe) var answer: String?
        nonisolated(unsafe) var finished = false
        let service = self.service
        Task {
            let result = await service.handle(subject: subject, payload: body, reply: "_INBOX.fuzz")
            done.withLock { answer = result; finished = true; done.signal() }
        }
        done.lock()
        while !finished { done.wait() }
        done.unlock()
        return answer
    }

    static func removeStore() -> Int32 {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        try? FileManager.default.removeItem(atPath: "\(base)/strata-fuzz-js-\(getpid())")
        return 0
    }
}
