@testable import NATSProtocol
import NIOCore

/// What the protocol targets share: an input cut into pieces at points its last bytes choose, and a parser fed
/// those pieces as reads would arrive.
enum ProtocolFeed {
    /// `input` cut at ``ClientProtocolTarget/cutPoints(_:)``.
    static func pieces(_ input: [UInt8]) -> (pieces: [[UInt8]], cuts: [Int]) {
        let cuts = ClientProtocolTarget.cutPoints(input)
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts where cut > start && cut < input.count {
            pieces.append(Array(input[start..<cut]))
            start = cut
        }
        pieces.append(Array(input[start...]))
        return (pieces, cuts)
    }

    /// Every operation `next` returns from the pieces, appended one after another to one buffer, and the error
    /// that stopped it (nil: none).
    static func parse<Operation>(_ pieces: [[UInt8]], next: (inout ByteBuffer) throws(ProtocolError) -> Operation?)
        -> (operations: [Operation], error: ProtocolError?) {
        var buffer = ByteBuffer()
        var operations: [Operation] = []
        for piece in pieces {
            buffer.writeBytes(piece)
            do throws(ProtocolError) {
                while let operation = try next(&buffer) { operations.append(operation) }
            } catch {
                return (operations, error)
            }
        }
        return (operations, nil)
    }

    /// The protocol targets' invariants: the input fed whole and cut gives the same operations and the same
    /// error, and every operation, encoded, parses back to itself alone.
    static func check<Operation: Equatable>(_ input: [UInt8], parse: ([[UInt8]]) -> (operations: [Operation], error: ProtocolError?),
                                            encode: (Operation) -> [UInt8]) {
        let whole = parse([input])
        let (pieces, cuts) = self.pieces(input)
        let split = parse(pieces)
        FuzzCheck.require(whole.operations == split.operations, "operations differ when the input is cut at \(cuts)")
        FuzzCheck.require(whole.error == split.error, "errors differ when cut: \(String(describing: whole.error)) vs \(String(describing: split.error))")
        for operation in whole.operations {
            let again = parse([encode(operation)])
            FuzzCheck.require(again.operations == [operation] && again.error == nil, "\(operation) does not survive its own encoding")
        }
    }
}
