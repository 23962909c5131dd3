/// Strata's fuzz targets: each takes arbitrary bytes, drives one decoder or request handler with them and checks
/// that decoder's own invariants (a parse error is an error value, what parses re-encodes to the same meaning,
/// the same input cut at other points gives the same answer). A broken invariant stops the process with
/// ``FuzzCheck/require(_:_:)``, which libFuzzer records as a crash; so does any crash, hang or leak of the code
/// under test.
///
/// The same targets run under libFuzzer (`make fuzz`, Tools/fuzz/run.sh) and over their kept corpora in
/// `make test` (FuzzCorpusTests), so an input that once broke a target stays a regression test.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The client protocol parser, fed whole and cut at input-chosen points (ClientProtocolTarget.swift).
    case clientProtocol = "client-protocol"
    /// The leaf-node protocol parser, fed whole and cut at input-chosen points (LeafProtocolTarget.swift).
    case leafProtocol = "leaf-protocol"
    /// CONNECT's JSON (ConnectTarget.swift).
    case connect
    /// A JetStream API request: subject and body (JetStreamAPITarget.swift).
    case jetstreamAPI = "jetstream-api"
    /// Ack subjects and ack bodies (AckTarget.swift).
    case ack
    /// nats-server's config format, parsed and read as server options (ConfigTarget.swift).
    case config
    /// Segment headers and whole frames with their records (SegmentTarget.swift).
    case segment
    /// A frame's record area without the CRC in front of it (RecordsTarget.swift).
    case records
    /// The consumer state record and the stream's consumer records (ConsumerStateTarget.swift).
    case consumerState = "consumer-state"
    /// The index's values: locations, the marker, the stream state and subject entries (IndexTarget.swift).
    case index

    /// Where `strata-fuzz` leaves its target for libFuzzer's child processes (merge, fork), which get only options.
    public static let environmentVariable = "STRATA_FUZZ_TARGET"

    /// Runs the target on one input.
    public func run(_ input: [UInt8]) {
        switch self {
        case .clientProtocol: ClientProtocolTarget.run(input)
        case .leafProtocol: LeafProtocolTarget.run(input)
        case .connect: ConnectTarget.run(input)
        case .jetstreamAPI: JetStreamAPITarget.run(input)
        case .ack: AckTarget.run(input)
        case .config: ConfigTarget.run(input)
        case .segment: SegmentTarget.run(input)
        case .records: RecordsTarget.run(input)
        case .consumerState: ConsumerStateTarget.run(input)
        case .index: IndexTarget.run(input)
        }
    }

    /// The longest input worth generating for the target (libFuzzer's `-max_len`).
    public var maxLength: Int {
        switch self {
        case .segment, .records, .clientProtocol, .leafProtocol: 16_384
        default: 4_096
        }
    }
}

/// How a target reports a broken invariant: it stops the process with the target's words and the input's
/// length (libFuzzer then keeps the input as `crash-*`).
public enum FuzzCheck {
    public static func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                               file: StaticString = #file, line: UInt = #line) {
        if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
    }
}
