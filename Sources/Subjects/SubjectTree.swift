/// A trie from subscription filters (with `*` and `>`) to values, answering "which values' filters match
/// this literal subject" in time proportional to the subject's tokens, not to the number of filters.
/// Not thread-safe: the owner serialises access.
public struct SubjectTree<Value: Hashable>: Sendable where Value: Sendable {
    // Internal but inlinable, so that matching is specialised for the caller's value type (an
    // unspecialised generic walk costs more in metadata lookups than in the walk itself).
    @usableFromInline final class Node: @unchecked Sendable {
        @usableFromInline var literal: [SubjectToken: Node] = [:]
        @usableFromInline var star: Node?
        @usableFromInline var full: Set<Value> = []      // values whose filter ends with `>` here
        @usableFromInline var exact: Set<Value> = []     // values whose filter ends exactly here
        var isEmpty: Bool { literal.isEmpty && star == nil && full.isEmpty && exact.isEmpty }
        @usableFromInline init() {}
    }

    @usableFromInline var root = Node()
    public private(set) var count = 0

    public init() {}

    /// Adds `value` under `filter` (which must be a valid filter).
    public mutating func insert(_ filter: String, _ value: Value) {
        copyIfShared()
        var node = root
        var tokens = filter.subjectTokens()[...]
        while let token = tokens.popFirst() {
            if token == ">" && tokens.isEmpty {
                if node.full.insert(value).inserted { count += 1 }
                return
            }
            if token == "*" {
                if node.star == nil { node.star = Node() }
                node = node.star!
            } else {
                if node.literal[SubjectToken(token)] == nil { node.literal[SubjectToken(token)] = Node() }
                node = node.literal[SubjectToken(token)]!
            }
        }
        if node.exact.insert(value).inserted { count += 1 }
    }

    /// Removes `value` from under `filter`; returns whether it was there.
    @discardableResult
    public mutating func remove(_ filter: String, _ value: Value) -> Bool {
        copyIfShared()
        let tokens = filter.subjectTokens()
        var path: [(Node, Substring)] = []
        var node = root
        for (i, token) in tokens.enumerated() {
            if token == ">" && i == tokens.count - 1 {
                guard node.full.remove(value) != nil else { return false }
                count -= 1
                prune(path)
                return true
            }
            guard let child = token == "*" ? node.star : node.literal[SubjectToken(token)] else { return false }
            path.append((node, token))
            node = child
        }
        guard node.exact.remove(value) != nil else { return false }
        count -= 1
        prune(path)
        return true
    }

    private func prune(_ path: [(Node, Substring)]) {
        for (parent, token) in path.reversed() {
            let child = token == "*" ? parent.star : parent.literal[SubjectToken(token)]
            guard let child, child.isEmpty else { return }
            if token == "*" { parent.star = nil } else { parent.literal[SubjectToken(token)] = nil }
        }
    }

    /// Every value whose filter matches the literal `subject`.
    @inlinable
    public func matches(_ subject: String) -> [Value] {
        var result: [Value] = []
        var lastTokenMatters = false
        collect(root, subject.utf8, from: subject.utf8.startIndex, into: &result, lastTokenMatters: &lastTokenMatters)
        return result
    }

    /// Every value whose filter matches the literal `subject`, and whether the subject's last token took
    /// part in deciding that. When it did not (no filter has a literal token in that place on any path the
    /// subject reaches: `_INBOX.x.*` against `_INBOX.x.y`), every subject that differs from `subject` in its
    /// last token alone matches the same values, so that the result may be kept for all of them.
    @inlinable
    public func matchesNotingLastToken(_ subject: String) -> (values: [Value], lastTokenMatters: Bool) {
        var result: [Value] = []
        var lastTokenMatters = false
        collect(root, subject.utf8, from: subject.utf8.startIndex, into: &result, lastTokenMatters: &lastTokenMatters)
        return (result, lastTokenMatters)
    }

    /// Walks the tree along the subject's tokens, found one at a time on its UTF-8 bytes (`.` is never
    /// part of a multi-byte character); no token array is built.
    @inlinable
    func collect(_ node: Node, _ utf8: String.UTF8View, from start: String.Index?, into result: inout [Value],
                 lastTokenMatters: inout Bool) {
        guard let start else {
            result.append(contentsOf: node.exact)
            return
        }
        if !node.full.isEmpty { result.append(contentsOf: node.full) }
        var end = start
        while end != utf8.endIndex && utf8[end] != UInt8(ascii: ".") { end = utf8.index(after: end) }
        let rest: String.Index? = end == utf8.endIndex ? nil : utf8.index(after: end)
        if !node.literal.isEmpty {
            if rest == nil { lastTokenMatters = true }
            if let child = node.literal[SubjectToken(Substring(utf8[start..<end]))] {
                collect(child, utf8, from: rest, into: &result, lastTokenMatters: &lastTokenMatters)
            }
        }
        if let star = node.star { collect(star, utf8, from: rest, into: &result, lastTokenMatters: &lastTokenMatters) }
    }

    /// Every value in the tree, each once per filter it is under (in no particular order).
    public var values: [Value] {
        var result: [Value] = []
        var pending = [root]
        while let node = pending.popLast() {
            result.append(contentsOf: node.exact)
            result.append(contentsOf: node.full)
            if let star = node.star { pending.append(star) }
            pending.append(contentsOf: node.literal.values)
        }
        return result
    }

    /// Copy-on-write for the value semantics of the tree.
    private mutating func copyIfShared() {
        if !isKnownUniquelyReferenced(&root) { root = Self.deepCopy(root) }
    }

    private static func deepCopy(_ node: Node) -> Node {
        let copy = Node()
        copy.full = node.full
        copy.exact = node.exact
        copy.star = node.star.map(deepCopy)
        copy.literal = node.literal.mapValues(deepCopy)
        return copy
    }
}

/// A literal token of a subject, compared and hashed by its UTF-8 bytes as nats-server compares subjects: `é` and
/// `e` + U+0301 are one token to Swift's `==` (canonical equivalence) but two subjects on the wire.
@usableFromInline struct SubjectToken: Hashable, Sendable {
    @usableFromInline let text: Substring

    @inlinable init(_ text: Substring) { self.text = text }

    @inlinable static func == (a: SubjectToken, b: SubjectToken) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

    @inlinable func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
