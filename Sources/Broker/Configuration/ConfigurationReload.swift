/// What a reload (SIGHUP, like `nats-server --signal reload`) may change. Pure.
///
/// Limits, keepalive, write deadline, authorization and logging change in place; what the listener, the
/// store or JetStream were built from cannot, and a reload that changes it is refused as a whole (the
/// running configuration stays), as nats-server refuses `config reload not supported for …`.
public enum ConfigurationReload {
    /// The config-file names of the options that differ between `old` and `new` and cannot change while
    /// running; empty when the reload may go ahead.
    public static func unchangeable(from old: BrokerConfiguration, to new: BrokerConfiguration) -> [String] {
        var names: [String] = []
        if old.host != new.host { names.append("host") }
        if old.port != new.port { names.append("port") }
        if old.serverName != new.serverName { names.append("server_name") }
        if old.jetStream != new.jetStream { names.append("jetstream") }
        if old.storeDirectory != new.storeDirectory { names.append("store_dir") }
        if old.maxMemoryStore != new.maxMemoryStore { names.append("max_memory_store") }
        if old.maxFileStore != new.maxFileStore { names.append("max_file_store") }
        if old.jetStreamDomain != new.jetStreamDomain { names.append("domain") }
        if old.jetStreamSync != new.jetStreamSync { names.append("strata_sync") }
        if old.jetStreamMaxOpenStreams != new.jetStreamMaxOpenStreams { names.append("strata_max_open_streams") }
        if old.eventLoopThreads != new.eventLoopThreads { names.append("event_loops") }
        if old.logFile != new.logFile { names.append("log_file") }
        if old.pidFile != new.pidFile { names.append("pid_file") }
        if old.httpPort != new.httpPort || old.httpHost != new.httpHost { names.append("http_port") }
        if old.httpsPort != new.httpsPort { names.append("https_port") }
        if old.leafNodes != new.leafNodes { names.append("leafnodes") }
        if old.accounts != new.accounts { names.append("accounts") }  // (their users may change: they are authorization)  // (the TLS context is built at start)
        return names
    }
}
