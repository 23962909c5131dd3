import Broker
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
import Dispatch
#else
import Foundation
#endif
import Platform
import Logging
import NIOCore
import NIOPosix

/// strata-server: a NATS-compatible server. Flags follow nats-server's where they overlap (ServerOptions);
/// `-c FILE` reads nats-server's config format (ConfigFileOptions). SIGHUP reloads the file, SIGTERM and
/// SIGINT stop the server.
func fail(_ message: String) -> Never {
    OutputDescriptor.standardError.write("strata-server: \(message)\n".utf8)
    exit(1)
}

let options: ServerOptions
do { options = try ServerOptions.parse(Array(CommandLine.arguments.dropFirst())) } catch {
    fail(error is ConfigurationError && CommandLine.arguments.contains(where: { $0 == "-c" || $0.hasPrefix("--config") || $0 == "-config" })
         ? "\(error)" : "\(error)\n\n\(ServerOptions.usage)")
}
switch options.action {
case .help: print(ServerOptions.usage); exit(0)
case .version: print("strata-server: version 2.9.10 (strata 0.1)"); exit(0)
case .test:
    for warning in options.warnings { print("strata-server: warning: \(warning)") }
    print("strata-server: configuration file \(options.configPath ?? "(none)") test is successful")
    exit(0)
case .run: break
}
let configuration = options.configuration

func level(of configuration: BrokerConfiguration) -> Logger.Level {
    configuration.trace ? .trace : configuration.debug ? .debug : .info
}
let logOutput: OutputDescriptor
if let path = configuration.logFile {
    guard let file = OutputDescriptor(appendingTo: path) else { fail("cannot open log file \(path)") }
    logOutput = file
} else {
    logOutput = OutputDescriptor.standardError
}
let logSettings = LogSettings(level: level(of: configuration), time: configuration.logTime, output: logOutput)
LoggingSystem.bootstrap { _ in ServerLogHandler(settings: logSettings) }
let logger = Logger(label: "strata")
if let path = options.configPath { logger.info("using configuration file \(path)") }
for warning in options.warnings { logger.warning("\(warning)") }
MallocTuning.apply()
let openFiles = OpenFileLimit.raiseToHard()
if openFiles.raised { logger.debug("open file limit raised to \(openFiles.limit)") }

// The monitor listens first, as nats-server's does: while the streams recover, /healthz answers 503.
let monitoring: MonitoringPorts
do { monitoring = try await MonitoringPorts.open(configuration: configuration, logger: logger) } catch let error as ConfigurationError {
    fail("\(error)")
} catch {
    fail("cannot listen for monitoring on \(configuration.httpHost ?? configuration.host): \(error)")
}
let server: BrokerServer
do { server = try BrokerServer(configuration: configuration, logger: logger, monitoring: monitoring) } catch { fail("\(error)") }
if configuration.jetStream {
    do {
        try FileManager.default.createDirectory(atPath: configuration.storeDirectory! + "/streams", withIntermediateDirectories: true)
    } catch { fail("cannot create store directory \(configuration.storeDirectory!): \(error)") }
    logger.info("JetStream enabled, store directory \(configuration.storeDirectory!), stream sync \(configuration.jetStreamSync)")
}
if let path = configuration.pidFile {
    do { try "\(ProcessInfo.processInfo.processIdentifier)".write(toFile: path, atomically: true, encoding: .utf8) } catch {
        fail("cannot write pid file \(path): \(error)")
    }
}

// SIGTERM / SIGINT: stop accepting, flush and close clients, exit. SIGHUP: reload the config file.
for number in [SIGTERM, SIGINT, SIGHUP] { signal(number, SIG_IGN) }
var signalSources: [DispatchSourceSignal] = []
for number in [SIGTERM, SIGINT] {
    let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
    source.setEventHandler {
        Task {
            await server.shutdown()
            if let path = configuration.pidFile { try? FileManager.default.removeItem(atPath: path) }  // (try?: already gone is fine)
            logger.info("server stopped")
            exit(0)
        }
    }
    source.resume()
    signalSources.append(source)
}
let reloadSource = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .main)
reloadSource.setEventHandler {
    guard let path = options.configPath else {
        logger.warning("reload requested, but the server was started without a config file")
        return
    }
    do {
        let reloaded = try ServerOptions.parse(options.arguments)
        try server.reload(reloaded.configuration)
        logSettings.update(level: level(of: reloaded.configuration), time: reloaded.configuration.logTime)
        for warning in reloaded.warnings { logger.warning("\(warning)") }
        logger.info("reloaded configuration file \(path)")
    } catch {
        logger.error("config reload failed, the running configuration stays: \(error)")
    }
}
reloadSource.resume()

do {
    try await server.start()
} catch {
    fail("cannot listen on \(configuration.host):\(configuration.port): \(error)")
}
logger.info("server is ready")
while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
