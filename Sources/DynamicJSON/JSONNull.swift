/// JSON's `null` in a dynamic value: what `JSONReader` gives for `null`, and what `JSONWriter` writes `null`
/// for (as it does for an optional that holds nothing).
public struct JSONNull: Sendable, Hashable {
    public init() {}
}
