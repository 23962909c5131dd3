import Auth
import Broker
import Foundation
import NATSConfig
import NATSProtocol
import NIOCore
import Testing

/// Mutated security input never crashes and never lets anyone in by accident: CONNECT JSON mutated byte by
/// byte either fails to decode or authenticates exactly as its decoded credentials deserve; a mutated
/// security config either reads or fails with a ConfigError.
@Suite struct SecurityRobustnessTests {
    /// xorshift64*: a fixed sequence, so a failure repeats.
    struct Sequence { var state: UInt64; mutating func next() -> UInt64 { state ^= state >> 12; state ^= state << 25; state ^= state >> 27; return state &* 2685821657736338717 } }

    static func mutate(_ original: [UInt8], _ random: inout Sequence, specials: [UInt8]) -> [UInt8] {
        var bytes = original
        for _ in 0...(random.next() % 4) {
            guard !bytes.isEmpty else { break }
            let at = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 4 {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(bytes[at], at: at)
            case 2: bytes[at] = specials[Int(random.next() % UInt64(specials.count))]
            default: bytes = Array(bytes[..<at])
            }
        }
        return bytes
    }

    @Test func mutatedConnectJSONNeverAuthenticatesWrongly() {
        var auth = AuthConfiguration()
        auth.users = [.init(name: "alice", password: "a-secret"),
                      .init(name: "bob", password: "$2b$04$uiMNaQTQblMOCiudxHFmWOvlvPDVt0tvFTxBC/37SfVOySIB7z1wu")]
        auth.nkeys = [.init(publicKey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4")]
        let originals = [
            #"{"verbose":false,"user":"alice","pass":"a-secret","headers":true}"#,
            #"{"user":"bob","pass":"secret","auth_token":"x"}"#,
            #"{"nkey":"UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4","sig":"AAAA"}"#,
        ].map { Array($0.utf8) }
        var random = Sequence(state: 0xC0FFEE)
        var decoded = 0, accepted = 0
        for round in 0..<3000 {
            let bytes = Self.mutate(originals[round % originals.count], &random, specials: Array("{}[]\":,\\ 0tfnu".utf8) + [0, 0xFF])
            guard let options = ConnectOptions.decode(ByteBuffer(bytes: bytes)) else { continue }
            decoded += 1
            let credentials = Credentials(user: options.user, password: options.pass, token: options.authToken,
                                          nkey: options.nkey, signature: options.signature)
            // (bcrypt at cost 4 per mutation is slow: check it only for the few that still name bob)
            if options.user == "bob" && round % 10 != 0 { continue }
            let decision = Authenticator.authenticate(credentials, nonce: "nonce", by: auth)
            if let identity = decision.identity {
                accepted += 1
                let rightful = (options.user == "alice" && options.pass == "a-secret") || (options.user == "bob" && options.pass == "secret")
                #expect(rightful, "accepted \(identity) for \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(decoded > 300)  // the mutations reach the authenticator, not only the JSON decoder
        #expect(accepted > 0)
    }

    @Test func mutatedSecurityConfigReadsOrFailsCleanly() {
        let text = """
        listen: 127.0.0.1:4222
        no_auth_user: guest
        authorization {
          timeout: 2
          default_permissions { publish { deny: "x.>" } }
          users = [
            { user: guest, password: "" }
            { user: svc, password: "$2a$11$abc", permissions { publish: ["a.>", "b c"], subscribe { allow: "s.*", deny: ["s.x"] }, allow_responses { max: 2, expires: "1s" } } }
            { nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 }
          ]
        }
        tls { cert_file: "c.pem", key_file: "k.pem", ca_file: "ca.pem", verify_and_map: true, timeout: 1.5 }
        accounts {
          A: { users: [ { user: a, password: a } ], jetstream: { max_streams: 1 }, exports: [ { service: "svc.>" } ] }
          B: { users: [ { user: b, password: b } ], imports: [ { service: { account: A, subject: "svc.x" }, to: "x" } ] }
        }
        """
        let parser = ConfigParser(environment: [:]) { _ in "" }
        let original = Array(text.utf8)
        var random = Sequence(state: 0xBADC0DE)
        var read = 0, refused = 0
        for _ in 0..<2000 {
            let bytes = Self.mutate(original, &random, specials: Array("{}[]()\"'$#:=,;\n 0.>*".utf8))
            do {
                let map = try parser.parse(String(decoding: bytes, as: UTF8.self), file: "sec.conf")
                _ = try ConfigFileOptions.read(map, onto: BrokerConfiguration())
                read += 1
            } catch {
                refused += 1
                #expect(!error.message.isEmpty)
            }
        }
        #expect(read > 0 && refused > 0)
    }
}
