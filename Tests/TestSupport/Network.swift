import EmbeddedPostgres

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() throws -> Int { try EmbeddedPostgres.freePort() }
