// libFuzzer entry for nats-server's config format (module NATSConfig, compiled in with this file):
// every input either parses or fails with a ConfigError; a crash, a hang or an out-of-memory is a bug.
// Build and run: `make fuzz-config` (FUZZ_SECONDS, default 60).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parser = ConfigParser(environment: ["HOME": "/root", "SELF": "$SELF"]) { path in
        // Includes resolve to a small fixed file, so include chains are exercised without the disk.
        path.hasSuffix("loop.conf") ? "include loop.conf\n" : "included: 1\n"
    }
    _ = try? parser.parse(text, file: "fuzz.conf")
    return 0
}
