#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open files. Every stream holds a few (its index environment and lock, its active
/// segment), so a store of many streams needs more than the common default soft limit of 1,024; servers
/// raise the soft limit to the hard one at start (the Go runtime does so for nats-server since Go 1.19).
enum OpenFileLimit {
    /// Raises the soft limit to the hard limit. Returns the limit in force afterwards (the old one when
    /// raising failed), and whether it changed.
    static func raiseToHard() -> (limit: UInt64, raised: Bool) {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return (0, false) }
        let soft = UInt64(limits.rlim_cur)
        guard limits.rlim_cur < limits.rlim_max else { return (soft, false) }
        var raised = limits
        raised.rlim_cur = limits.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (soft, false) }
        return (UInt64(raised.rlim_cur), true)
    }
}
