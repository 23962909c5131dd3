import StreamStore

/// The benchmark workload, shared by every benchmark target: 256-byte JSON-like messages over 10,000 subjects.
public enum Workload {
    public static let subjects = 10_000

    public static func subject(_ i: Int) -> String { "orders.region\(i % 10).customer\(i % subjects)" }

    public static func payload(_ i: Int) -> [UInt8] {
        var text = "{\"order_id\":\(100_000 + i),\"customer\":\"cust-\(i % subjects)\",\"status\":\"\(["new", "paid", "shipped", "delivered"][i % 4])\","
        text += "\"amount\":\(i % 1000).\(i % 100),\"currency\":\"EUR\",\"items\":[{\"sku\":\"SKU-\(i % 500)\",\"qty\":\(1 + i % 5)}],"
        text += "\"created\":\"2026-11-27T10:\(10 + i % 50):00Z\",\"note\":\""
        let padding = max(0, 254 - text.utf8.count)
        text += String(repeating: "x", count: padding) + "\"}"
        return Array(text.utf8.prefix(256))
    }

    /// Messages are built once (10,000 distinct ones, reused round-robin) so that the benchmark measures the
    /// store, not the formatting of its input.
    public static let prebuilt: [AppendRequest] = (0..<subjects).map { AppendRequest(subject: subject($0), payload: payload($0)) }

    public static func message(_ i: Int) -> AppendRequest { prebuilt[i % subjects] }
}
