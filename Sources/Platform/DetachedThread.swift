#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts an operating-system thread that runs one closure and ends with it (nobody joins it; callers that must
/// wait for it signal their own condition at its end). Stands where `Foundation.Thread` stood.
public enum DetachedThread {
    /// Runs `body` on a new thread named `name` (Linux keeps the first 15 bytes) with a stack of `stackSize`
    /// bytes. A failure to create a thread is fatal: the callers (writers, sync threads) cannot run without it.
    public static func start(name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
        let result = spawn(stackSize: max(stackSize, 64 << 10), context: context)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    private static func spawn(stackSize: Int, context: UnsafeMutableRawPointer) -> Int32 {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        return pthread_create(&thread, &attributes, threadEntry, context)
    }
}

/// What a new thread runs, handed over through `pthread_create`'s context pointer (retained once, released by
/// the thread).
private final class ThreadStart: @unchecked Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
}

#if canImport(Glibc)
private let threadEntry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
    let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
    nameCurrentThread(start.name)
    start.body()
    return nil
}
#else
private let threadEntry: @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? = { context in
    let start = Unmanaged<ThreadStart>.fromOpaque(context).takeRetainedValue()
    start.body()
    return nil
}
#endif

/// Names the calling thread as `ps -L`, `top -H` and perf show it (what `pthread_setname_np` does for the calling
/// thread, which Swift's Glibc module does not export): its `comm` file in /proc.
private func nameCurrentThread(_ name: String) {
    #if canImport(Glibc)
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
    #endif
}
