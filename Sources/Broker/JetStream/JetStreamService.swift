#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import Consumers
import DynamicJSON
import Platform
import Logging
import NATSProtocol
import NIOCore
import StreamStore
import Subjects

/// The JetStream API on `$JS.API.>` and the capture of messages published to stream subjects, over the
/// storage engine. Replies use the reference's JSON shapes, `type` fields and error codes.
///
/// Streams and publishing here; consumers and acknowledgements in JetStreamService+Consumers.swift.
/// Specs/Protocol.md lists what is served.
final class JetStreamService: @unchecked Sendable {
    let streams: StreamManager
    private let requestLock = Lock()
    private var lastRequestID: UInt64 = 0
    /// API requests answered, and those answered with an error (account info's `api`).
    private var apiTotal = 0, apiErrors = 0
    /// Sends messages from the server, in order (a consumer's deliveries of one step go as one batch).
    /// Set by the server.
    var send: @Sendable ([OutboundMessage]) -> Void = { _ in }
    /// Whether any subscription matches a subject (push consumers deliver only while someone listens).
    var hasInterest: @Sendable (String) -> Bool = { _ in false }
    /// The most bytes a connection listening on a subject holds unwritten (push consumers pace a backlog by it).
    var deliveryBacklog: @Sendable (String) -> Int = { _ in 0 }
    /// Set by the server before it starts.
    var logger = Logger(label: "strata")
    /// How mirrors and sources subscribe and publish in the account (set by the server before it starts;
    /// nil: none are fed).
    var sourcingLink: StreamSourcing.Link?
    /// The running mirrors and sources, by stream name.
    let sourcing = SourcingRegistry()
    /// The JetStream domain (named in pub acks and account info, as the reference does); set before start.
    var domain: String? {
        didSet { domainField = domain.map { #","domain":"\#($0)""# } ?? "" }
    }
    private var domainField = ""

    func nextRequestID() -> UInt64 { requestLock.withLock { lastRequestID += 1; return lastRequestID } }

    /// Each stream's write failure since its last successful write (a full disk, a read-only file system, a
    /// failed sync): reported by `/healthz` and `/jsz`, and logged when it differs from the stream's previous
    /// one (a full disk refuses every publish; the log says so once, not once per publish).
    private var writeFailures: [ObjectIdentifier: String] = [:]
    /// True when this failure is the one logged last for the stream; records it otherwise.
    func failureLogged(_ stream: StreamManager.Managed, _ error: StoreError) -> Bool {
        let text = "\(error)"
        return requestLock.withLock { writeFailures.updateValue(text, forKey: ObjectIdentifier(stream.store)) == text }
    }
    /// Forgets the stream's write failure (after a successful write, or when it is deleted); true when there was one.
    private func clearWriteFailure(_ stream: StreamManager.Managed) -> Bool {
        requestLock.withLock { writeFailures.removeValue(forKey: ObjectIdentifier(stream.store)) != nil }
    }
    /// The stream's write failure since its last successful write, if any; for a stream opened read-only
    /// (its file system was read-only at start), that.
    func writeFailure(of stream: StreamManager.Managed) -> String? {
        if let file = stream.store as? OnDemandFileStream, file.isReadOnly { return Self.servedReadOnly }
        return requestLock.withLock { writeFailures[ObjectIdentifier(stream.store)] }
    }
    /// Set when the server stops: the warm-up of streams deferred at start ends.
    private var _stopping = false
    var stopping: Bool { requestLock.withLock { _stopping } }
    func stop() {
        requestLock.withLock { _stopping = true }
        stopAllSourcing()
    }

    static let servedReadOnly = "served read-only: its file system was read-only at start (restart once it is writable)"

    /// The account's own limits (`accounts { A: { jetstream { max_mem, max_file, max_streams, max_consumers } } }`),
    /// reported by `$JS.API.INFO`; -1: none. Memory and file bytes are also the store's limits when they are
    /// lower than the server's.
    let accountLimits: AccountSettings.JetStreamLimits

    init(storeDirectory: String, sync: StreamConfig.SyncPolicy = .always, maxMemoryStore: Int64 = -1, maxFileStore: Int64 = -1,
         accountLimits: AccountSettings.JetStreamLimits = AccountSettings.JetStreamLimits(),
         fileSystem: any FileSystem = POSIXFileSystem(), openStreams: OpenStreamBudget = OpenStreamBudget()) throws {
        func lower(_ server: Int64, _ account: Int64) -> Int64 { account < 0 ? server : server < 0 ? account : min(server, account) }
        self.accountLimits = accountLimits
        streams = try StreamManager(storeDirectory: storeDirectory, sync: sync, maxMemoryStore: lower(maxMemoryStore, accountLimits.maxMemory),
                                    maxFileStore: lower(maxFileStore, accountLimits.maxFile), fileSystem: fileSystem,
                                    openStreams: openStreams)
    }

    // MARK: Publish

    /// Appends messages published to streams' subjects (those of one connection read, in order); each
    /// publish with a reply subject gets its pub ack there. Each stream's messages go to its store in one
    /// hand-off, and their acks are routed together once the store has committed them.
    /// `completed` runs on `loop` once per stream with the bytes of that stream's publishes, when their pub
    /// acks have been routed (the connection's backpressure, ``PublishWindow``).
    func store(_ captured: [(publish: Publish, stream: StreamManager.Managed)], on loop: any EventLoop,
               completed: @escaping @Sendable (Int) -> Void = { _ in }) {
        var byStream: [(stream: StreamManager.Managed, publishes: [Publish])] = []
        for item in captured {
            if let i = byStream.firstIndex(where: { $0.stream === item.stream }) {
                byStream[i].publishes.append(item.publish)
            } else {
                byStream.append((item.stream, [item.publish]))
            }
        }
        for (stream, publishes) in byStream {
            let bytes = publishes.reduce(0) { $0 + Self.bytes(of: $1) }
            store(publishes, in: stream, on: loop) { completed(bytes) }
        }
    }

    /// What a publish costs while it waits for its store: subject, headers and payload.
    static func bytes(of publish: Publish) -> Int {
        publish.subject.utf8.count + (publish.headers?.readableBytes ?? 0) + publish.payload.readableBytes
    }

    /// The store's completion only hops to `loop` (the publisher's): the writer thread goes on to the next
    /// batch while the loop builds and routes the acks.
    private func store(_ publishes: [Publish], in stream: StreamManager.Managed, on loop: any EventLoop,
                       completed: @escaping @Sendable () -> Void) {
        let name = stream.config.name
        var refused: [OutboundMessage] = []
        var requests: [AppendRequest] = []
        var replies: [String?] = []
        var subjects: [String] = []
        var room = streams.room(in: stream)
        for publish in publishes {
            switch request(for: publish, in: stream, room: &room) {
            case .success(let request):
                requests.append(request)
                replies.append(publish.reply)
                subjects.append(publish.subject)
            case .failure(let error):
                if let reply = publish.reply { refused.append(Self.pubAck(to: reply, stream: name, error: error)) }
            }
        }
        if !refused.isEmpty { send(refused) }
        guard !requests.isEmpty else { completed(); return }
        stream.store.append(contentsOf: requests) { [replies, subjects] results in
            loop.execute {
                self.acknowledge(results, replies: replies, subjects: subjects, in: stream)
                completed()
            }
        }
    }

    /// Pub acks for a batch's outcomes, and what the stored messages mean for the stream's consumers.
    func acknowledge(_ results: [Result<AppendResult, StoreError>], replies: [String?], subjects: [String],
                             in stream: StreamManager.Managed) {
        let name = stream.config.name
        // The stored messages' ack payloads first, in one buffer; then every ack in the batch's order.
        var stored: [(sequence: UInt64, duplicate: Bool)] = []
        stored.reserveCapacity(results.count)
        for (i, result) in results.enumerated() where replies[i] != nil {
            if case .success(let ack) = result { stored.append((ack.sequence, ack.duplicate)) }
        }
        var payloads = PubAckPayloads.make(stream: name, domainField: domainField, stored).makeIterator()
        var acks: [OutboundMessage] = []
        acks.reserveCapacity(results.count)
        var unwanted: [UInt64] = []
        var appended = false
        for (i, result) in results.enumerated() {
            switch result {
            case .success(let ack):
                if !ack.duplicate {
                    appended = true
                    // Interest retention with nobody interested: the message is not kept (as the reference).
                    if !self.hasInterest(in: stream, subject: subjects[i]) { unwanted.append(ack.sequence) }
                }
                if let reply = replies[i], let payload = payloads.next() {
                    acks.append(OutboundMessage(to: reply, payload: payload, oneOff: true))
                }
            case .failure(let error):
                if !failureLogged(stream, error) {
                    if case .needsRecovery = error {
                        logger.error("stream \(name) refuses writes until the server restarts: \(error)")
                    } else {
                        logger.warning("stream \(name) could not store a message: \(error)")
                    }
                }
                if let reply = replies[i] { acks.append(Self.pubAck(to: reply, stream: name, error: Self.apiError(for: error))) }
            }
        }
        if appended {
            if clearWriteFailure(stream) { logger.notice("stream \(name) stores messages again") }
            self.notifyConsumers(of: stream)
        }
        if unwanted.isEmpty {
            if !acks.isEmpty { self.send(acks) }
            return
        }
        // The pub acks go once the unwanted messages are gone (a client then sees the stream as it is).
        let logger = self.logger
        stream.store.remove(unwanted) { [acks] result in
            if case .failure(let error) = result { logger.error("stream \(name): messages nobody is interested in not removed: \(error)") }
            if !acks.isEmpty { self.send(acks) }
        }
    }

    /// The store request for a publish (its headers parsed once, and not at all without headers), or the
    /// error its pub ack carries. `room` is what the server's limit leaves for the stream's storage type.
    private func request(for publish: Publish, in stream: StreamManager.Managed, room: inout Int64?) -> Result<AppendRequest, APIError> {
        if stream.config.sealed { return .failure(.streamSealed) }
        let headers = publish.headers.map(NATSHeaders.parse) ?? []
        func header(_ key: String) -> String? { headers.first { $0.name == key }?.value }
        if let expected = header("Nats-Expected-Stream"), expected != stream.config.name {
            return .failure(APIError(code: 400, errCode: 10060, description: "expected stream does not match"))
        }
        var expectations = AppendExpectations()
        expectations.lastMessageID = header("Nats-Expected-Last-Msg-Id")
        if let text = header("Nats-Expected-Last-Sequence") {
            guard let value = UInt64(text) else { return .failure(.badRequest) }
            expectations.lastSequence = value
        }
        if let text = header("Nats-Expected-Last-Subject-Sequence") {
            guard let value = UInt64(text) else { return .failure(.badRequest) }
            expectations.lastSubjectSequence = value
        }
        var rollup: Rollup?
        if let text = header("Nats-Rollup") {
            guard stream.config.allowRollupHdrs else { return .failure(APIError(code: 500, errCode: 10111, description: "rollup not permitted")) }
            switch text {
            case "sub": rollup = .subject
            case "all": rollup = .all
            // (nats-server 2.9.10 leaves this publish unanswered; Strata answers it with its rollup error family)
            default: return .failure(APIError(code: 500, errCode: 10111, description: "rollup value invalid: \"\(text)\""))
            }
        }
        let size = (publish.headers?.readableBytes ?? 0) + publish.payload.readableBytes
        if let left = room {
            let needed = Int64(size + publish.subject.utf8.count + 16)
            if needed > left { return .failure(APIError(code: 503, errCode: 10023, description: "insufficient resources")) }
            room = left - needed
        }
        if stream.config.maxMsgSize >= 0 && size > Int(stream.config.maxMsgSize) { return .failure(.messageSizeExceeded) }
        var request = AppendRequest(subject: publish.subject, headers: publish.headers.map { Array($0.readableBytesView) } ?? [],
                                    payload: Array(publish.payload.readableBytesView), messageID: header("Nats-Msg-Id"))
        request.expectations = expectations
        request.rollup = rollup
        return .success(request)
    }

    /// The API error a pub ack carries for a store error.
    static func apiError(for error: StoreError) -> APIError {
        switch error {
        case .messageTooLarge: return .messageSizeExceeded
        case .wrongLastSequence(let actual), .wrongLastSubjectSequence(let actual): return .wrongLastSequence(actual)
        case .wrongLastMessageID(let actual): return APIError(code: 400, errCode: 10070, description: "wrong last msg ID: \(actual)")
        case .limitReached(let limit):
            return APIError(code: 503, errCode: 10077, description: limit == "bytes" ? "maximum bytes exceeded" : "maximum messages exceeded")
        default: return .storeFailed
        }
    }

    static func pubAck(to reply: String, stream: String, error: APIError) -> OutboundMessage {
        // (the description may quote what the client sent: escaped as a JSON string)
        let description = error.description.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
        let json = #"{"error":{"code":\#(error.code),"err_code":\#(error.errCode),"description":"\#(description)"},"stream":"\#(stream)","seq":0}"#
        return OutboundMessage(to: reply, payload: ByteBuffer(string: json), oneOff: true)
    }

    // MARK: API

    /// Answers one API request (`subject` starts with `$JS.API.`); the JSON reply.
    func handle(subject: String, payload: ByteBuffer, reply: String?) async -> String? {
        let answer = await answer(subject: subject, payload: payload, reply: reply)
        count(answer, to: subject)
        return answer
    }

    /// Whether `subject` is a read of one message (`DIRECT.GET`, `STREAM.MSG.GET`), which ``read(subject:payload:reply:)``
    /// answers at once on the caller's thread.
    static func isMessageRead(_ subject: String) -> Bool {
        subject.hasPrefix("$JS.API.DIRECT.GET.") || subject.hasPrefix("$JS.API.STREAM.MSG.GET.")
    }

    /// Answers a read of one message (``isMessageRead(_:)``) on the caller's thread: a store read, as a pull
    /// request is (the server calls it on the requester's loop, without a task hop). The JSON reply, if any.
    func read(subject: String, payload: ByteBuffer, reply: String?) -> String? {
        let tokens = subject.subjectTokens().dropFirst(2).map(String.init)
        let body = Data(payload.readableBytesView)
        let answer: String?
        if tokens.first == "DIRECT" {
            directGet(tokens, body: body, reply: reply)
            answer = nil
        } else if tokens.count == 4, let stream = streams.stream(named: tokens[3]) {
            answer = messageGet(stream: stream, body: body)
        } else {
            answer = error("stream_msg_get_response", .streamNotFound)
        }
        count(answer, to: subject)
        return answer
    }

    /// Counts an answered request as the reference counts them, after the answer is made (account info shows
    /// the earlier ones): a message found by MSG.GET bypasses its API layer, and a MSG.DELETE the store could
    /// not carry out (no such message) is answered as a success would be.
    private func count(_ answer: String?, to subject: String) {
        if let answer {
            let failed = answer.hasPrefix(#"{"error""#)
            if failed || !subject.hasPrefix("$JS.API.STREAM.MSG.GET.") {
                let storeMiss = subject.hasPrefix("$JS.API.STREAM.MSG.DELETE.")
                    && (answer.contains(#""stream store EOF""#) || answer.contains(#""no message found""#))
                let error = failed && !storeMiss
                requestLock.withLock { apiTotal += 1; if error { apiErrors += 1 } }
            }
        }
    }

    private func answer(subject: String, payload: ByteBuffer, reply: String?) async -> String? {
        let tokens = subject.subjectTokens().dropFirst(2).map(String.init)
        let body = Data(payload.readableBytesView)
        guard let operation = tokens.first else { return error("api", .badRequest) }
        switch (operation, tokens.count >= 2 ? tokens[1] : "") {
        case ("INFO", _):
            return accountInfo()
        case ("CONSUMER", _):
            return await consumerRequest(tokens, body: body, reply: reply)
        case ("DIRECT", "GET"):
            directGet(tokens, body: body, reply: reply)
            return nil
        case ("STREAM", "CREATE"), ("STREAM", "UPDATE"):
            let type = tokens[1] == "CREATE" ? "stream_create_response" : "stream_update_response"
            guard tokens.count == 3 else { return nil }  // (a name with a dot, say): the reference does not answer
            guard var config = try? JSONDecoder().decode(APIStreamConfig.self, from: body) else { return error(type, .invalidJSON) }
            if config.name.isEmpty { config.name = tokens[2] }
            guard config.name == tokens[2] else { return error(type, .streamMismatch) }
            do {
                if tokens[1] == "CREATE" {
                    if accountLimits.maxStreams >= 0 && streams.stream(named: config.name) == nil && streams.allUnrestored.count >= accountLimits.maxStreams {
                        return error(type, APIError(code: 400, errCode: 10027, description: "maximum number of streams reached"))
                    }
                    let created = try streams.create(config)
                    if sourcing[created.config.name] == nil { startSourcing(created) }
                    var info = streamInfo(created)
                    info["did_create"] = true  // as the reference, also when the stream existed with this config
                    return encode(type, info)
                }
                let before = streams.stream(named: config.name)?.config.sources
                let updated = try await streams.update(config)
                if updated.config.sources != before { startSourcing(updated) }
                return encode(type, streamInfo(updated))
            } catch let apiError as APIError {
                return error(type, apiError)
            } catch {
                return self.error(type, .configInvalid("\(error)"))
            }
        case ("STREAM", "INFO"):
            guard tokens.count == 3, let stream = streams.stream(named: tokens[2]) else {
                return error("stream_info_response", .streamNotFound, extra: ["total": 0, "offset": 0, "limit": 0])
            }
            struct Request: Decodable {
                var subjectsFilter: String?; var deletedDetails: Bool?
                enum CodingKeys: String, CodingKey { case subjectsFilter = "subjects_filter", deletedDetails = "deleted_details" }
            }
            // (try?: client input: a body that does not decode is answered as invalid JSON below)
            guard let request = body.isEmpty ? Request() : (try? JSONDecoder().decode(Request.self, from: body)) else {
                return error("stream_info_response", .invalidJSON)
            }
            var info = streamInfo(stream)
            info["total"] = 0; info["offset"] = 0; info["limit"] = 0
            var state = info["state"] as! [String: Any]
            if let filter = request.subjectsFilter, !filter.isEmpty {
                // (try?: a failed index read answers without the subjects, as for a filter matching none)
                let counts = (try? stream.store.subjectCounts(filter: filter == ">" ? nil : filter)) ?? [:]
                if !counts.isEmpty {
                    state["subjects"] = counts
                    info["total"] = counts.count; info["limit"] = 100_000
                }
            }
            if request.deletedDetails == true, let deleted = deletedSequences(stream), !deleted.isEmpty {
                state["deleted"] = deleted
            }
            info["state"] = state
            return encode("stream_info_response", info)
        case ("STREAM", "DELETE"):
            guard tokens.count == 3 else { return error("stream_delete_response", .badRequest) }
            if let stream = streams.stream(named: tokens[2]) { _ = clearWriteFailure(stream) }
            stopSourcing(tokens[2])
            do { try streams.delete(tokens[2]) } catch { return self.error("stream_delete_response", error as? APIError ?? .storeFailed) }
            return encode("stream_delete_response", ["success": true])
        case ("STREAM", "PURGE"):
            guard tokens.count == 3, let stream = streams.stream(named: tokens[2]) else { return error("stream_purge_response", .streamNotFound) }
            if stream.config.sealed { return error("stream_purge_response", .streamSealed, extra: ["purged": 0]) }
            if stream.config.denyPurge { return error("stream_purge_response", .purgeDenied, extra: ["purged": 0]) }
            struct Request: Decodable { var filter: String?; var seq: UInt64?; var keep: UInt64? }
            // (try?: client input: a body that does not decode is answered as invalid JSON below)
            let request = body.isEmpty ? Request() : (try? JSONDecoder().decode(Request.self, from: body))
            guard let request else { return error("stream_purge_response", .invalidJSON) }
            if request.seq != nil && request.keep != nil { return error("stream_purge_response", .badRequest, extra: ["purged": 0]) }
            do {
                let purged = try await stream.store.purge(PurgeRequest(filter: request.filter, belowSequence: request.seq, keep: request.keep))
                return encode("stream_purge_response", ["success": true, "purged": purged])
            } catch {
                return self.error("stream_purge_response", .configInvalid("\(error)"))
            }
        case ("STREAM", "NAMES"), ("STREAM", "LIST"):
            // Paged (`offset`) and filtered (`subject`: streams whose subjects overlap it), in name order.
            struct Page: Decodable { var subject: String?; var offset: Int? }
            // (try?: client input: a paging body that does not decode is the first page, as the reference)
            let page = (try? JSONDecoder().decode(Page.self, from: body)) ?? Page()
            // NAMES needs only configs: streams deferred at start are not opened for it (LIST opens them).
            let matching = (tokens[1] == "NAMES" ? streams.allUnrestored : streams.all).filter { stream in
                page.subject.map { s in stream.config.subjects.contains { Subject.overlaps($0, s) } } ?? true
            }
            let limit = tokens[1] == "NAMES" ? 1024 : 256
            let offset = min(max(page.offset ?? 0, 0), matching.count)
            let shown = matching[offset..<min(offset + limit, matching.count)]
            if tokens[1] == "NAMES" {
                return encode("stream_names_response", ["total": matching.count, "offset": offset, "limit": limit, "streams": shown.map(\.config.name)])
            }
            return encode("stream_list_response", ["total": matching.count, "offset": offset, "limit": limit, "streams": shown.map { streamInfo($0) }])
        case ("STREAM", "MSG"):
            guard tokens.count == 4, let stream = streams.stream(named: tokens[3]) else {
                return error(tokens.count > 2 && tokens[2] == "DELETE" ? "stream_msg_delete_response" : "stream_msg_get_response", .streamNotFound)
            }
            return await message(tokens[2], stream: stream, body: body)
        default:
            return error("api", .unsupported)
        }
    }

    /// `DIRECT.GET.<stream>` (`{"seq"}`, `{"last_by_subj"}`, `{"next_by_subj","seq"}`) and
    /// `DIRECT.GET.<stream>.<subject>` (last by subject): the reply is the message itself, with
    /// `Nats-Stream`, `Nats-Sequence`, `Nats-Time-Stamp` and `Nats-Subject` headers, or `404 Message Not Found`.
    private func directGet(_ tokens: [String], body: Data, reply: String?) {
        guard let reply, tokens.count >= 3, let stream = streams.stream(named: tokens[2]), stream.config.allowDirect else { return }
        var found: StoredMessage?
        if tokens.count > 3 {
            // (try?: a read that fails is answered 404, as a message that is not there)
            found = try? stream.store.last(subject: tokens[3...].joined(separator: "."))
        } else if let query = try? JSONDecoder().decode(MessageQuery.self, from: body) {
            found = query.find(in: stream.store)
        }
        guard let message = found else {
            send([.status(to: reply, code: 404, description: "Message Not Found")])
            return
        }
        var headers = message.headers.isEmpty ? "NATS/1.0\r\n" : String(decoding: message.headers.dropLast(2), as: UTF8.self)
        headers += "Nats-Stream: \(stream.config.name)\r\nNats-Subject: \(message.subject)\r\nNats-Sequence: \(message.sequence)\r\n"
        headers += "Nats-Time-Stamp: \(Self.time(message.timestamp))\r\n\r\n"
        send([OutboundMessage(to: reply, headers: ByteBuffer(string: headers), payload: ByteBuffer(bytes: message.payload))])
    }

    private func message(_ operation: String, stream: StreamManager.Managed, body: Data) async -> String {
        if operation == "DELETE" {
            struct Request: Decodable { var seq: UInt64 }
            // (try?: client input: answered with the invalid JSON error)
            guard let request = try? JSONDecoder().decode(Request.self, from: body) else { return error("stream_msg_delete_response", .invalidJSON) }
            if stream.config.sealed { return error("stream_msg_delete_response", .streamSealed) }
            if stream.config.denyDelete { return error("stream_msg_delete_response", .deleteDenied) }
            let deleted: Bool
            do {
                deleted = try await stream.store.delete(sequence: request.seq)
            } catch let failure {
                logger.error("stream \(stream.config.name): message \(request.seq) not deleted: \(failure)")
                return error("stream_msg_delete_response", (failure as? StoreError).map(Self.apiError) ?? .storeFailed)
            }
            guard deleted else {
                // The reference's store errors: past the last sequence "stream store EOF", else "no message found".
                let past = request.seq > stream.store.state.lastSequence
                return error("stream_msg_delete_response", APIError(code: 500, errCode: 10057, description: past ? "stream store EOF" : "no message found"))
            }
            return encode("stream_msg_delete_response", ["success": true])
        }
        return messageGet(stream: stream, body: body)
    }

    /// `STREAM.MSG.GET.<stream>`: the message `body` asks for, as JSON.
    private func messageGet(stream: StreamManager.Managed, body: Data) -> String {
        // (try?: client input: answered with the invalid JSON error)
        guard let query = try? JSONDecoder().decode(MessageQuery.self, from: body) else { return error("stream_msg_get_response", .invalidJSON) }
        guard query.isValid else { return error("stream_msg_get_response", .badRequest) }
        let found = query.find(in: stream.store)
        guard let message = found else { return error("stream_msg_get_response", .noMessageFound) }
        var fields: [String: Any] = ["subject": message.subject, "seq": message.sequence, "time": Self.time(message.timestamp)]
        if !message.payload.isEmpty { fields["data"] = Data(message.payload).base64EncodedString() }
        if !message.headers.isEmpty { fields["hdrs"] = Data(message.headers).base64EncodedString() }
        return encode("stream_msg_get_response", ["message": fields])
    }

    /// The answer to a `$JS.API.` request in an account without JetStream on a server with it (503, 10039),
    /// typed as the reference types the request's response.
    static func notEnabledResponse(_ subject: String) -> String {
        let tokens = subject.split(separator: ".").dropFirst(2).map { $0.lowercased() }
        let type: String
        switch (tokens.first ?? "", tokens.count > 1 ? tokens[1] : "") {
        case ("info", _): type = "account_info_response"
        case ("consumer", "durable"), ("consumer", "create"): type = "consumer_create_response"
        case ("consumer", "msg"): type = "consumer_getnext_response"
        case ("stream", "msg"): type = tokens.count > 2 && tokens[2] == "delete" ? "stream_msg_delete_response" : "stream_msg_get_response"
        case (let kind, let operation) where !operation.isEmpty: type = "\(kind)_\(operation)_response"
        default: type = "account_info_response"
        }
        return #"{"type":"io.nats.jetstream.api.v1."# + type + #"","error":{"code":503,"err_code":10039,"description":"JetStream not enabled for account"}}"#
    }

    /// API requests served and those answered with an error (monitoring).
    var apiCounts: (total: Int, errors: Int) { requestLock.withLock { (apiTotal, apiErrors) } }

    private func accountInfo() -> String {
        let all = streams.all
        var memory: UInt64 = 0, storage: UInt64 = 0
        for stream in all {
            if stream.config.storage == .memory { memory += stream.store.state.bytes } else { storage += stream.store.state.bytes }
        }
        var info: [String: Any] = [
            "memory": memory, "storage": storage, "streams": all.count, "consumers": all.reduce(0) { $0 + $1.consumers.all.count },
            "limits": ["max_memory": accountLimits.maxMemory, "max_storage": accountLimits.maxFile,
                       "max_streams": accountLimits.maxStreams, "max_consumers": accountLimits.maxConsumers, "max_ack_pending": -1,
                       "memory_max_stream_bytes": -1, "storage_max_stream_bytes": -1, "max_bytes_required": false],
            "api": requestLock.withLock { ["total": apiTotal, "errors": apiErrors] },
            // Not in the reference's reply (it reports account limits above): the server-wide limits.
            "x_server_limits": ["max_memory_store": streams.maxMemoryStore, "max_file_store": streams.maxFileStore],
        ]
        if let domain { info["domain"] = domain }
        return encode("account_info_response", info)
    }

    /// The sequences between the first and the last that are no longer held (stream info's `deleted`), in
    /// order. Walks the held messages a page at a time: O(messages), for an operator's query; nil when a
    /// read fails.
    private func deletedSequences(_ stream: StreamManager.Managed) -> [UInt64]? {
        let state = stream.store.state
        guard state.deleted > 0, state.lastSequence >= state.firstSequence else { return [] }
        var deleted: [UInt64] = []
        var expected = state.firstSequence
        while expected <= state.lastSequence {
            // (try?: a failed read answers without the list)
            guard let page = try? stream.store.messages(from: expected, filter: nil, limit: 1024) else { return nil }
            guard !page.isEmpty else { break }
            for message in page {
                while expected < message.sequence { deleted.append(expected); expected += 1 }
                expected = message.sequence + 1
            }
        }
        while expected <= state.lastSequence { deleted.append(expected); expected += 1 }
        return deleted
    }

    private func streamInfo(_ stream: StreamManager.Managed) -> [String: Any] {
        let state = stream.store.state
        // (try?: encoding a plain Codable config cannot fail)
        let config: Any = ((try? JSONEncoder().encode(stream.config)).flatMap { try? JSONReader.value($0) }) ?? [String: Any]()
        let empty = state.messages == 0
        return sourcingInfo(stream).merging([
            "config": config,
            "created": Self.time(stream.created),
            "state": [
                "messages": state.messages, "bytes": state.bytes,
                "first_seq": empty && state.lastSequence == 0 ? 0 : state.firstSequence,
                "first_ts": Self.time(empty ? 0 : state.firstTimestamp),
                "last_seq": state.lastSequence, "last_ts": Self.time(state.lastTimestamp),
                "consumer_count": stream.consumers.all.count,
            ].merging(state.subjects > 0 ? ["num_subjects": state.subjects] : [:]) { $1 }
             .merging(state.deleted > 0 ? ["num_deleted": state.deleted] : [:]) { $1 } as [String: Any],
        ]) { $1 }
    }

    func encode(_ type: String, _ fields: [String: Any]) -> String {
        var object = fields
        object["type"] = "io.nats.jetstream.api.v1." + type
        return JSONWriter().text(object)
    }

    func error(_ type: String, _ error: APIError, extra: [String: Any] = [:]) -> String {
        var fields = extra
        fields["error"] = ["code": error.code, "err_code": error.errCode, "description": error.description]
        return encode(type, fields)
    }

    /// RFC 3339 with nanoseconds, as the reference writes times (Go's RFC3339Nano: trailing zeros of the
    /// fraction dropped, and the fraction with them when it is 0); 0 is Go's zero time.
    static func time(_ nanoseconds: Int64) -> String { RFC3339.text(nanoseconds: nanoseconds) }
}

/// A message query of `STREAM.MSG.GET` and `DIRECT.GET`: `{"seq"}`, `{"last_by_subj"}` or `{"next_by_subj","seq"}`.
struct MessageQuery: Decodable {
    var seq: UInt64?
    var lastBySubject: String?
    var nextBySubject: String?

    enum CodingKeys: String, CodingKey { case seq, lastBySubject = "last_by_subj", nextBySubject = "next_by_subj" }

    var isValid: Bool { seq != nil || lastBySubject != nil || nextBySubject != nil }

    func find(in store: any MessageStore) -> StoredMessage? {
        // (try?: a read that fails is answered as a message not found)
        if let subject = lastBySubject { return try? store.last(subject: subject) }
        if let subject = nextBySubject { return try? store.next(atOrAfter: seq ?? 0, filter: subject) }
        if let seq { return try? store.message(sequence: seq) }
        return nil
    }
}
