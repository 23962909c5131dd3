#if canImport(Glibc)
import Glibc
#endif

/// Marks the threads that run a stream's writes (writers, sync threads), whose completions call back into the
/// broker: an ``OnDemandFileStream`` being closed must not make such a thread wait for the close, which waits
/// for that very thread's completions to finish.
enum StoreThread {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Marks the calling thread for its lifetime.
    static func markCurrent() {
        _ = pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
    }

    /// True on a writer or sync thread.
    static var isCurrent: Bool { pthread_getspecific(key) != nil }
}
