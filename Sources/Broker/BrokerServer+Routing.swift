#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import NATSProtocol
import NIOCore
import Subjects

/// The leaf connections one message goes to, each once, with the queue groups it is for on the other side
/// (nats-server's route targets: a leaf with plain interest and a chosen queue member gets one LMSG).
struct LeafTargets {
    private(set) var targets: [(leaf: LeafConnection, queues: [String])] = []

    mutating func add(_ leaf: LeafConnection, queue: String?) {
        if let i = targets.firstIndex(where: { $0.leaf === leaf }) {
            if let queue { targets[i].queues.append(queue) }
        } else {
            targets.append((leaf, queue.map { [$0] } ?? []))
        }
    }

    var isEmpty: Bool { targets.isEmpty }
}

extension BrokerServer {
    /// Delivers a published message to every plain subscription and one member of each queue group.
    /// Returns whether anything took it: a subscription, a stream, or JetStream (its API, or a consumer
    /// for a pull request or an ack). The caller answers a request nothing took with no responders.
    ///
    /// `queues` is the queue filter of a message that came over a leaf connection: nil (a client's
    /// message) reaches every group; a list reaches the plain subscriptions and the groups it names only, as
    /// nats-server delivers what a leaf or route forwards.
    @discardableResult
    func route(_ publish: Publish, from publisher: some Publisher, queues: [String]? = nil) -> Bool {
        route(publish, in: publisher.account, from: publisher, queues: queues, crossings: 0)
    }

    /// `subject` with this server's JetStream domain prefix taken off (`$JS.<domain>.API.X` → `$JS.API.X`,
    /// `$JS.<domain>.API.$KV.>` → `$KV.>`), as nats-server's domain mappings do; nil for any other subject.
    func domainLocalSubject(_ subject: String) -> String? {
        guard let domainAPIPrefix, subject.utf8.first == UInt8(ascii: "$"), subject.hasPrefix(domainAPIPrefix) else { return nil }
        let rest = subject.dropFirst(domainAPIPrefix.count)
        if rest.hasPrefix("$KV.") || rest.hasPrefix("$OBJ.") { return String(rest) }
        return "$JS.API." + rest
    }

    /// Routes `publish` in `account`: the publisher's own, or one an import carried it into (`crossings`
    /// counts those hops; nats-server refuses import cycles, this stops at four).
    private func route(_ publish: Publish, in account: Account, from publisher: some Publisher, queues filter: [String]?,
                       crossings: Int) -> Bool {
        var taken = false
        let router = account.router
        let home = crossings == 0
        let routing = publisher.routing
        if let local = domainLocalSubject(publish.subject) {
            var mapped = publish
            mapped.subject = local
            return route(mapped, in: account, from: publisher, queues: filter, crossings: crossings)
        }
        if let response = account.takeResponse(publish.subject) {
            // The one response to a request that came in through a service import: to the requester.
            var crossed = publish
            crossed.subject = response.reply
            return crossings < 4 && route(crossed, in: response.importer, from: publisher, queues: filter, crossings: crossings + 1)
        }
        if account.shares && crossings < 4 { taken = routeAcross(publish, from: account, publisher: publisher, crossings: crossings) }
        if account.jetStreamRefused, publish.subject.utf8.first == UInt8(ascii: "$"), publish.subject.hasPrefix("$JS.API.") {
            if let reply = publish.reply { routeInternal(subject: reply, payload: JetStreamService.notEnabledResponse(publish.subject), in: account) }
            return true
        }
        if let jetStream = account.jetStream {
            // (One byte decides for nearly every message that it is none of JetStream's own subjects.)
            let isJetStreamSubject = publish.subject.utf8.first == UInt8(ascii: "$") && publish.subject.hasPrefix("$JS.")
            if isJetStreamSubject && publish.subject.hasPrefix("$JS.API.CONSUMER.MSG.NEXT.") {
                // Pull requests are served at once, on the requester's loop (no task hop).
                let tokens = publish.subject.subjectTokens().dropFirst(2).map(String.init)
                jetStream.pullRequest(tokens, body: Data(publish.payload.readableBytesView), reply: publish.reply)
                taken = true  // (the reference's `$JS.API.>` dispatcher takes it, consumer or not)
            } else if isJetStreamSubject && JetStreamService.isMessageRead(publish.subject) {
                // Direct and message gets too: a store read each, answered without a task hop.
                if let json = jetStream.read(subject: publish.subject, payload: publish.payload, reply: publish.reply),
                   let reply = publish.reply {
                    routeInternal(subject: reply, payload: json, in: account)
                }
                taken = true
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.API.") {
                let reply = publish.reply
                Task {
                    let json = await jetStream.handle(subject: publish.subject, payload: publish.payload, reply: reply)
                    if let reply, let json { self.routeInternal(subject: reply, payload: json, in: account) }
                }
                taken = true
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.ACK.") {
                // Applied here, on the publisher's loop: acks are the hot path of consumption.
                var confirm: (@Sendable () -> Void)?
                if let reply = publish.reply { confirm = { self.routeInternal(subject: reply, payload: "", in: account) } }
                func acknowledge(_ cache: inout JetStreamService.AckTargetCache) -> Bool {
                    jetStream.acknowledge(subject: publish.subject, body: publish.payload, confirm: confirm,
                                          deferDelivery: { host in routing.deliverAfterRead(host) },
                                          deferAck: { host, sequence in routing.acknowledgeAfterRead(host, sequence) },
                                          cache: &cache)
                }
                if home {
                    taken = acknowledge(&routing.ackTarget)
                } else {
                    var elsewhere = JetStreamService.AckTargetCache()  // (the connection's cache is its own account's)
                    taken = acknowledge(&elsewhere)
                }
            } else if isJetStreamSubject && publish.subject.hasPrefix("$JS.FC.") {
                jetStream.flowControlAnswered(publish.subject)
                taken = true
            } else if let stream = home ? routing.stream(capturing: publish.subject, in: jetStream.streams)
                                        : jetStream.streams.stream(capturing: publish.subject) {
                // Stored with the rest of this read's publishes.
                routing.capture(publish, for: stream, in: jetStream, home: publisher.account.jetStream)
                taken = true
            }
        }
        let matches: Router.Matches
        let version = router.version
        if home, let last = routing.lastRoute, last.version == version, last.subject == publish.subject {
            matches = last.matches
        } else {
            matches = router.matches(publish.subject)
            if home { routing.lastRoute = (publish.subject, version, matches) }
        }
        guard !matches.isEmpty else { return taken }
        let echo = publisher.echo
        guard let loop = publisher.eventLoop else { return taken }
        if !matches.remote {
            for subscription in matches.plain where echo || subscription.client !== publisher {
                if deliver(publish, to: subscription, from: publisher, on: loop) { taken = true }
            }
            for group in matches.groups {
                if let filter, !filter.contains(group[0].queue!) { continue }
                let candidates = echo ? group : group.filter { $0.client !== publisher }
                if let chosen = candidates.randomElement(using: &routing.random) {
                    if deliver(publish, to: chosen, from: publisher, on: loop) { taken = true }
                }
            }
            return taken
        }
        // Some of the interest is the other side of a leaf connection: each leaf gets the message once, with
        // the queue groups it is for; a group prefers its local members, as nats-server's does.
        var leaves = LeafTargets()
        for subscription in matches.plain {
            if let leaf = subscription.leaf {
                if leaf !== publisher { leaves.add(leaf, queue: nil) }
            } else if echo || subscription.client !== publisher {
                if deliver(publish, to: subscription, from: publisher, on: loop) { taken = true }
            }
        }
        for group in matches.groups {
            if let filter, !filter.contains(group[0].queue!) { continue }
            let local = group.filter { $0.leaf == nil && (echo || $0.client !== publisher) }
            if let chosen = local.randomElement(using: &routing.random) {
                if deliver(publish, to: chosen, from: publisher, on: loop) { taken = true }
            } else if let remote = group.filter({ $0.leaf != nil && $0.leaf !== publisher }).randomElement(using: &routing.random) {
                leaves.add(remote.leaf!, queue: remote.queue)
            }
        }
        for (leaf, queues) in leaves.targets where leaf.forward(publish, queues: queues) { taken = true }
        return taken
    }

    /// What a service import or a stream import carries from `account` to others: returns whether any
    /// subscription took it.
    private func routeAcross(_ publish: Publish, from account: Account, publisher: some Publisher, crossings: Int) -> Bool {
        var taken = false
        if let (subject, exporter) = account.serviceImport(for: publish.subject) {
            var crossed = publish
            crossed.subject = subject
            if let reply = publish.reply { crossed.reply = exporter.openResponse(to: reply, in: account) }
            taken = route(crossed, in: exporter, from: publisher, queues: nil, crossings: crossings + 1) || taken
        }
        for item in account.streamImporters where Subject.matches(publish.subject, filter: item.filter) {
            var crossed = publish
            crossed.subject = SubjectMapping.imported(publish.subject, filter: item.filter, prefix: item.prefix, to: item.to)
            taken = route(crossed, in: item.importer, from: publisher, queues: nil, crossings: crossings + 1) || taken
        }
        return taken
    }

    /// Publishes a message from the server itself (API replies, pub acks) in the global account; safe from
    /// any thread.
    func routeInternal(subject: String, payload: String, in account: Account? = nil) {
        routeInternal([OutboundMessage(to: subject, payload: ByteBuffer(string: payload))], in: account)
    }

    /// The largest first capacity of one connection's batch in ``routeInternal(_:in:)``: a piece of
    /// ``ClientConnection/flushBytes`` and room for the message that completes it.
    static let batchCapacityLimit = ClientConnection.flushBytes + ClientConnection.flushBytes / 8

    /// Sends messages from the server, each routed by its `to` and shown with its own subject (JetStream
    /// deliveries go to an inbox under the stream message's subject). Safe from any thread. The messages
    /// for one connection are encoded together and handed to it in one piece, in order.
    func routeInternal(_ messages: [OutboundMessage], in account: Account? = nil) {
        let account = account ?? globalAccount
        let router = account.router
        var messages = messages
        // JetStream's advisories are stored by the streams that capture them (as the reference does).
        if let jetStream = account.jetStream, messages.contains(where: { JetStreamService.isEvent($0.to) }) {
            jetStream.capture(events: messages, on: group.next())
        }
        // JetStream's replies to requests that came in through a service import go back to the requester.
        if let i = messages.firstIndex(where: { $0.to.utf8.first == UInt8(ascii: "_") && $0.to.hasPrefix(Account.responsePrefix) }) {
            var crossing: [(Account, OutboundMessage)] = []
            messages = messages[..<i] + messages[i...].filter { message in
                guard let response = account.takeResponse(message.to) else { return true }
                var crossed = message
                crossed.to = response.reply
                crossed.subject = response.reply
                crossed.oneOff = true
                crossing.append((response.importer, crossed))
                return false
            }
            for (importer, message) in crossing { routeInternal([message], in: importer) }
        }
        // The first connection's batch starts large enough for every message (a consumer's step goes to one
        // connection), up to one piece of ClientConnection.flushBytes: growing it by doubling from a small
        // buffer copied it again and again. The others (a fan-out) start small, so that many targets do not
        // each take the whole estimate. A batch that reaches a piece's size is handed over at once.
        let capacity = min(messages.reduce(0) { $0 + $1.encodedSizeEstimate }, Self.batchCapacityLimit)
        var batches: [ObjectIdentifier: (client: ClientConnection, buffer: ByteBuffer, count: MessageCount)] = [:]
        var leafBatches: [ObjectIdentifier: (leaf: LeafConnection, buffer: ByteBuffer, count: MessageCount)] = [:]
        var previous: (to: String, matches: Router.Matches)?
        for message in messages {
            // A consumer's deliveries share one subject: it is matched once for the batch.
            let matches: Router.Matches
            if let previous, previous.to == message.to {
                matches = previous.matches
            } else {
                matches = router.matches(message.to, cache: !message.oneOff)
                previous = (message.to, matches)
            }
            guard !matches.isEmpty else { continue }
            // Without leaf interest (nearly always) the plain list is taken as it is, as before leaf nodes.
            var targets = matches.remote ? [] : matches.plain
            var leaves = LeafTargets()
            if matches.remote {
                for subscription in matches.plain {
                    if let leaf = subscription.leaf { leaves.add(leaf, queue: nil) } else { targets.append(subscription) }
                }
            }
            for group in matches.groups {
                if !matches.remote {
                    if let chosen = group.randomElement() { targets.append(chosen) }
                } else if let chosen = group.filter({ $0.leaf == nil }).randomElement() {
                    targets.append(chosen)
                } else if let remote = group.randomElement() {
                    leaves.add(remote.leaf!, queue: remote.queue)
                }
            }
            for subscription in targets {
                if let receiver = subscription.receiver {
                    receiver(InternalDelivery(subject: message.subject, reply: message.reply, headers: message.headers, payload: message.payload))
                    continue
                }
                guard let client = subscription.client, subscription.admits(message.to, reply: message.reply) else { continue }
                let (deliver, last) = subscription.claimDelivery()
                if deliver {
                    let key = ObjectIdentifier(client)
                    if batches[key] == nil { batches[key] = (client, ByteBufferAllocator().buffer(capacity: batches.isEmpty ? capacity : 512), MessageCount()) }
                    let headers = subscription.receivesHeaders ? message.headers : nil
                    ServerEncoder.message(subject: message.subject, sid: subscription.sid, reply: message.reply,
                                          headers: headers, payload: message.payload, into: &batches[key]!.buffer)
                    batches[key]!.count.add(bytes: message.payload.readableBytes &+ (headers?.readableBytes ?? 0))
                    if batches[key]!.buffer.readableBytes >= ClientConnection.flushBytes, let batch = batches.removeValue(forKey: key) {
                        batch.client.deliverEncoded(batch.buffer, count: batch.count)
                    }
                }
                if last {
                    subscription.router.remove(subscription)
                    client.channel?.eventLoop.execute { client.remove(subscription) }
                }
            }
            // A message shown under another subject than it is routed by (a JetStream delivery) crosses with
            // the subject after an `@` in its reply, as nats-server sends it (`$JS.ACK.…@orders.1`).
            guard !leaves.isEmpty else { continue }
            var reply = message.reply
            if let ack = reply, message.subject != message.to { reply = ack + "@" + message.subject }
            for (leaf, queues) in leaves.targets where leaf.sends(message.to) {
                let key = ObjectIdentifier(leaf)
                if leafBatches[key] == nil { leafBatches[key] = (leaf, ByteBufferAllocator().buffer(capacity: leafBatches.isEmpty ? capacity : 512), MessageCount()) }
                LeafEncoder.message(subject: message.to, reply: reply, queues: queues, headers: message.headers,
                                    payload: message.payload, into: &leafBatches[key]!.buffer)
                leafBatches[key]!.count.add(bytes: message.payload.readableBytes &+ (message.headers?.readableBytes ?? 0))
            }
        }
        for (_, batch) in batches { batch.client.deliverEncoded(batch.buffer, count: batch.count) }
        for (_, batch) in leafBatches { batch.leaf.forwardEncoded(batch.buffer, messages: batch.count.messages, bytes: batch.count.bytes) }
    }

    /// Publishes a message from the server itself into `account` as a client would (a mirror's consumer
    /// requests and flow-control answers): the JetStream domain mapping, the account's JetStream API and
    /// flow control, then its subscriptions and leaf connections. Safe from any thread.
    func publishInternal(subject: String, reply: String?, payload: String, in account: Account) {
        let subject = domainLocalSubject(subject) ?? subject
        if let jetStream = account.jetStream, subject.hasPrefix("$JS.") {
            if subject.hasPrefix("$JS.API.") {
                Task {
                    let json = await jetStream.handle(subject: subject, payload: ByteBuffer(string: payload), reply: reply)
                    if let reply, let json { self.routeInternal([OutboundMessage(to: reply, payload: ByteBuffer(string: json), oneOff: true)], in: account) }
                }
                return
            }
            if subject.hasPrefix("$JS.FC.") { jetStream.flowControlAnswered(subject) }
        }
        routeInternal([OutboundMessage(to: subject, reply: reply, payload: ByteBuffer(string: payload), oneOff: true)], in: account)
    }

    /// Delivers to one client subscription; false when its deny filter keeps the message from it.
    @discardableResult
    private func deliver(_ publish: Publish, to subscription: Subscription, from publisher: some Publisher, on loop: EventLoop) -> Bool {
        guard let client = subscription.client else {
            guard let receiver = subscription.receiver else { return false }
            receiver(InternalDelivery(subject: publish.subject, reply: publish.reply, headers: publish.headers, payload: publish.payload))
            return true
        }
        guard subscription.admits(publish.subject, reply: publish.reply) else { return false }
        let (deliver, last) = subscription.claimDelivery()
        if deliver { client.deliver(publish, to: subscription, from: publisher, on: loop) }
        if last {
            subscription.router.remove(subscription)
            client.channel?.eventLoop.execute { client.remove(subscription) }
        }
        return true
    }
}
