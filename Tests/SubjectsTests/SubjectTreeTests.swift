import Testing
@testable import Subjects

@Suite struct SubjectTreeTests {
    @Test func matchesLiteralsAndWildcards() {
        var tree = SubjectTree<Int>()
        tree.insert("a.b.c", 1)
        tree.insert("a.*.c", 2)
        tree.insert("a.>", 3)
        tree.insert(">", 4)
        tree.insert("a.b", 5)
        tree.insert("*.b.*", 6)
        #expect(Set(tree.matches("a.b.c")) == [1, 2, 3, 4, 6])
        #expect(Set(tree.matches("a.b")) == [3, 4, 5])
        #expect(Set(tree.matches("a")) == [4])
        #expect(Set(tree.matches("x.b.y")) == [4, 6])
        #expect(Set(tree.matches("a.b.c.d")) == [3, 4])
        #expect(tree.count == 6)
    }

    /// The last token matters exactly when some other last token would match other values: checked against
    /// the tree itself, for every subject of a small alphabet.
    @Test func knowsWhenTheLastTokenDecides() {
        var tree = SubjectTree<Int>()
        for (i, filter) in ["_INBOX.a.*", "_INBOX.b.>", "_INBOX.b.x", "c.*.y", "c.>", "d"].enumerated() { tree.insert(filter, i) }
        let tokens = ["_INBOX", "a", "b", "c", "x", "y", "d"]
        var subjects = tokens
        for a in tokens { for b in tokens { subjects.append("\(a).\(b)"); for c in tokens { subjects.append("\(a).\(b).\(c)") } } }
        for subject in subjects {
            let (values, lastTokenMatters) = tree.matchesNotingLastToken(subject)
            #expect(Set(values) == Set(tree.matches(subject)))
            let prefix = subject.split(separator: ".").dropLast().joined(separator: ".")
            let others = (tokens + ["other"]).map { prefix.isEmpty ? $0 : prefix + "." + $0 }
            let allSame = others.allSatisfy { Set(tree.matches($0)) == Set(values) }
            if !lastTokenMatters { #expect(allSame, "\(subject)") }
        }
        #expect(tree.matchesNotingLastToken("_INBOX.a.q1").lastTokenMatters == false)
        #expect(tree.matchesNotingLastToken("_INBOX.b.q1").lastTokenMatters == true)
        #expect(tree.matchesNotingLastToken("c.q.y").lastTokenMatters == true)
    }

    @Test func removeAndPrune() {
        var tree = SubjectTree<Int>()
        tree.insert("a.*.c", 1)
        tree.insert("a.*.c", 2)
        tree.insert("a.>", 3)
        let removed = tree.remove("a.*.c", 1)
        let again = tree.remove("a.*.c", 1)
        let absent = tree.remove("a.x", 3)
        #expect(removed && !again && !absent)
        #expect(tree.matches("a.b.c").sorted() == [2, 3])
        let last = tree.remove("a.*.c", 2) && tree.remove("a.>", 3)
        #expect(last)
        #expect(tree.matches("a.b.c").isEmpty && tree.count == 0)
    }

    @Test func agreesWithMatcherOnRandomFilters() {
        let tokens = ["a", "b", "c", "*"]
        var generator = SystemRandomNumberGenerator()
        var tree = SubjectTree<String>()
        var filters: Set<String> = []
        for _ in 0..<200 {
            var parts = (0..<Int.random(in: 1...4, using: &generator)).map { _ in tokens.randomElement(using: &generator)! }
            if Bool.random(using: &generator) { parts.append(">") }
            let filter = parts.joined(separator: ".")
            filters.insert(filter)
            tree.insert(filter, filter)
        }
        for _ in 0..<500 {
            let subject = (0..<Int.random(in: 1...5, using: &generator)).map { _ in ["a", "b", "c"].randomElement(using: &generator)! }.joined(separator: ".")
            let expected = filters.filter { Subject.matches(subject, filter: $0) }
            #expect(Set(tree.matches(subject)) == expected, "\(subject)")
        }
    }

    /// Subjects are bytes, as nats-server 2.9.10 treats them (checked over a socket): `.` before a combining mark
    /// still separates tokens, and canonically equivalent spellings are different subjects.
    @Test func tokensAreBytesNotCharacters() {
        let combining = "a.\u{301}"  // "a", then U+0301 alone: one Character ".\u{301}" to Swift
        #expect(combining.subjectTokens() == ["a", "\u{301}"])
        var tree = SubjectTree<Int>()
        tree.insert("a.*", 1)
        tree.insert(combining, 2)
        tree.insert("\u{E9}", 3)  // é, precomposed
        #expect(Set(tree.matches(combining)) == [1, 2])
        #expect(tree.matches("e\u{301}").isEmpty)  // é, decomposed: another subject
        #expect(tree.matches("\u{E9}") == [3])
        let removed = tree.remove(combining, 2)
        #expect(removed)
        #expect(tree.matches(combining) == [1])
        #expect(Subject.overlaps(combining, "a.*"))
    }
}
