import CNIOBoringSSL

/// SHA-256, through the BoringSSL that swift-nio-ssl links. A pure function of its bytes.
public enum SHA256Digest {
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                _ = SHA256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return out
    }
}
