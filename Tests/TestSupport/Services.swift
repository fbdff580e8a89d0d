import Logging
/// Servers in tests run as `ServiceTask`s and are stopped gracefully (see its comment).
@_exported import ServiceTask

/// A logger for a test's background service: warnings and worse only.
public func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}
