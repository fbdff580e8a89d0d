import Foundation
import Hummingbird
import Logging
import Postgres
import Synchronization

/// Makes server faults visible: an error that is not an HTTP answer of our own (a database error,
/// an outage, a bug) is logged at error level with its cause and the route, and answered with a
/// bare 500 (or 503 while the database is unreachable) that tells the caller nothing internal.
/// Refusals of bad input (4xx) stay quiet here; the routes log those themselves.
struct ServerErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            // A 503 of our own is a decision (this host is draining), not a fault.
            if error.status.code >= 500, error.status != .serviceUnavailable { log(error, request) }
            throw error
        } catch let error as any HTTPResponseError {
            throw error
        } catch is CancellationError {
            throw HTTPError(.serviceUnavailable, message: "shutting down")
        } catch {
            log(error, request)
            if let database = error as? PostgresError, database.isTransient {
                throw HTTPError(.serviceUnavailable, message: "database unavailable")
            }
            throw HTTPError(.internalServerError)
        }
    }

    private func log(_ error: any Error, _ request: Request) {
        logger.error(
            "request failed",
            metadata: [
                "http.method": "\(request.method)", "http.path": "\(request.uri.path)", "error": "\(error)",
                "error.type": "\(type(of: error))",
            ])
    }
}

/// Whether `operation` succeeds within `timeout`. It is cancelled when the time is up and left to
/// finish in the background: a connection attempt blocked in libpq cannot be interrupted, and the
/// caller must not wait for it.
func succeeds(within timeout: Duration, _ operation: @escaping @Sendable () async throws -> Void) async -> Bool {
    let pending = Mutex<CheckedContinuation<Bool, Never>?>(nil)
    let resume: @Sendable (Bool) -> Void = { value in pending.withLock { $0.take() }?.resume(returning: value) }
    return await withCheckedContinuation { continuation in
        pending.withLock { $0 = continuation }
        let work = Task {
            do {
                try await operation()
                resume(true)
            } catch {
                resume(false)
            }
        }
        Task {
            try? await Task.sleep(for: timeout)
            work.cancel()
            resume(false)
        }
    }
}
