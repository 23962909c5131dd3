import Testing
@testable import Subjects

@Suite struct SubjectTests {
    @Test(arguments: [
        ("foo", "foo", true), ("foo.bar", "foo.*", true), ("foo.bar.baz", "foo.*", false),
        ("foo.bar.baz", "foo.>", true), ("foo", "foo.>", false), ("foo", ">", true),
        ("a.b.c", "*.b.*", true), ("a.x.c", "*.b.*", false), ("foo.bar", "foo.bar.baz", false),
        ("foo.bar.baz", "foo.bar", false), ("foo.ba", "foo.bar", false), ("foo.bar", "*.*", true),
        ("foo", "*", true), ("foo.bar", "*", false), ("foo.bar", "foo.*.>", false), ("a.b.c.d", "a.*.>", true),
    ])
    func matching(subject: String, filter: String, expected: Bool) {
        #expect(Subject.matches(subject, filter: filter) == expected)
    }

    @Test func validatesLiterals() throws {
        try Subject.validateLiteral("orders.eu.new")
        #expect(throws: Subject.Invalid.empty) { try Subject.validateLiteral("") }
        #expect(throws: Subject.Invalid.emptyToken(index: 0)) { try Subject.validateLiteral(".a") }
        #expect(throws: Subject.Invalid.emptyToken(index: 1)) { try Subject.validateLiteral("a..b") }
        #expect(throws: Subject.Invalid.emptyToken(index: 1)) { try Subject.validateLiteral("a.") }
        #expect(throws: Subject.Invalid.wildcardNotAllowed) { try Subject.validateLiteral("a.*") }
        #expect(throws: Subject.Invalid.forbiddenCharacter(0x20)) { try Subject.validateLiteral("a b") }
        // A '*' inside a longer token is an ordinary character, as in nats-server.
        try Subject.validateLiteral("a.b*c")
    }

    @Test func validatesFilters() throws {
        try Subject.validateFilter("a.*.>")
        try Subject.validateFilter(">")
        #expect(throws: Subject.Invalid.misplacedWildcard) { try Subject.validateFilter("a.>.b") }
        #expect(Subject.hasWildcard("a.*") && Subject.hasWildcard(">") && !Subject.hasWildcard("a.b*"))
    }

    @Test func overlapAndSubset() {
        #expect(Subject.overlaps("a.*", "a.b"))
        #expect(Subject.overlaps("a.>", "*.b.c"))
        #expect(!Subject.overlaps("a.*", "a.b.c"))
        #expect(!Subject.overlaps("a.b", "a.c"))
        #expect(Subject.isSubset("a.b", of: "a.*"))
        #expect(Subject.isSubset("a.b.c", of: "a.>"))
        #expect(!Subject.isSubset("a.>", of: "a.*"))
        #expect(!Subject.isSubset("a.*", of: "a.b"))
        // Tokens are bytes, as nats-server compares them: "é" (U+00E9) and "e" + U+0301 are different subjects,
        // though Swift's String == calls them equal.
        #expect(!Subject.overlaps("orders.\u{E9}", "orders.e\u{301}"))
        #expect(!Subject.isSubset("orders.\u{E9}", of: "orders.e\u{301}"))
        #expect(Subject.isSubset("orders.\u{E9}", of: "orders.\u{E9}") && Subject.overlaps("orders.e\u{301}", "orders.*"))
    }
}
