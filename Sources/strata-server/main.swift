import Broker
import Foundation
import Logging
import NIOCore
import NIOPosix

/// strata-server: a NATS-compatible server. Flags follow nats-server's where they overlap (ServerOptions).
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("strata-server: \(message)\n".utf8))
    exit(1)
}

let options: ServerOptions
do { options = try ServerOptions.parse(Array(CommandLine.arguments.dropFirst())) } catch {
    fail("\(error)\n\n\(ServerOptions.usage)")
}
switch options.action {
case .help: print(ServerOptions.usage); exit(0)
case .version: print("strata-server: version 2.9.10 (strata 0.1)"); exit(0)
case .run: break
}
let configuration = options.configuration
let configPath = options.configPath
let level: Logger.Level = options.trace ? .trace : options.debug ? .debug : .info
let logLevel = level
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = logLevel
    return handler
}
let logger = Logger(label: "strata")
if let configPath { logger.info("using configuration file \(configPath)") }

let server: BrokerServer
do { server = try BrokerServer(configuration: configuration, logger: logger) } catch { fail("\(error)") }
if configuration.jetStream {
    do {
        try FileManager.default.createDirectory(atPath: configuration.storeDirectory! + "/streams", withIntermediateDirectories: true)
    } catch { fail("cannot create store directory \(configuration.storeDirectory!): \(error)") }
    logger.info("JetStream enabled, store directory \(configuration.storeDirectory!), stream sync \(configuration.jetStreamSync)")
}

// SIGTERM / SIGINT: stop accepting, flush and close clients, exit.
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let signals = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: .main) }
let stopped = DispatchSemaphore(value: 0)
for source in signals {
    source.setEventHandler {
        Task {
            await server.shutdown()
            logger.info("server stopped")
            exit(0)
        }
    }
    source.resume()
}
do {
    try await server.start()
} catch {
    fail("cannot listen on \(configuration.host):\(configuration.port): \(error)")
}
logger.info("server is ready")
while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
