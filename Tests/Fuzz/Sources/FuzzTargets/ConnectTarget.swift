import DynamicJSON
import NATSProtocol
import NIOCore

/// CONNECT's JSON as the server decodes it. Invariants: what decodes is a JSON object to an independent strict
/// reader too, and the fields a connection's behaviour depends on (verbose, pedantic, echo, headers,
/// no_responders, protocol, user, name) have the values that object holds.
enum ConnectTarget {
    static func run(_ input: [UInt8]) {
        var buffer = ByteBuffer()
        buffer.writeBytes(input)
        guard let options = ConnectOptions.decode(buffer) else { return }
        guard let object = JSONReader.object(input) else {
            FuzzCheck.require(false, "CONNECT options decoded from text that is not a JSON object")
            return
        }
        func check<T: Equatable>(_ key: String, _ value: T, default fallback: T) {
            guard let raw = object[key] else { return }
            if let expected = raw as? T { FuzzCheck.require(expected == value, "\(key): \(value), the JSON holds \(expected)") }
            if raw is JSONNull { FuzzCheck.require(value == fallback, "\(key): null read as \(value)") }
        }
        check("verbose", options.verbose, default: true)
        check("pedantic", options.pedantic, default: true)
        check("echo", options.echo, default: true)
        check("headers", options.headers, default: false)
        check("no_responders", options.noResponders, default: false)
        if let protocolVersion = object["protocol"] as? Int { FuzzCheck.require(protocolVersion == options.protocolVersion, "protocol") }
        if let user = object["user"] as? String { FuzzCheck.require(user == options.user, "user") }
        if let name = object["name"] as? String { FuzzCheck.require(name == options.name, "name") }
    }
}
