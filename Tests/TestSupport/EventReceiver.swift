import EmbeddedPostgres
import Foundation
import ServiceTask

/// A user's event receiver as the README describes one: `Tests/Scripts/event-receiver.py`, a
/// separate process on `port` that checks each delivery (or agent tool call) with
/// docs/verify-webhook.py against `secrets` and writes one JSON line per request it got.
public final class EventReceiver: Sendable {
    let child: ChildProcess
    public let outPath: String

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/event-receiver.py").path

    /// Returns once it listens.
    public init(port: Int, secrets: [String]) async throws {
        outPath = NSTemporaryDirectory() + "events-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        child = try ChildProcess(
            "/usr/bin/env", ["python3", Self.script, String(port), outPath],
            environment: ["EVENT_SECRET": secrets.joined(separator: ",")])
        let child = child
        guard await eventually(timeout: .seconds(20), { child.output.contains("listening") }) else {
            child.signal(SIGKILL)
            throw ChildProcess.Failure(description: "the event receiver did not start: \(child.output)")
        }
    }

    /// Everything it wrote so far.
    public var text: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    /// Its lines that read as `T`.
    public func lines<T: Decodable>(as type: T.Type) -> [T] {
        text.split(separator: "\n").compactMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    /// Stops it at once (for `defer`) and removes what it wrote.
    public func kill() {
        child.signal(SIGKILL)
        try? FileManager.default.removeItem(atPath: outPath)
    }

    public func stop() async {
        child.signal(SIGTERM)
        _ = await child.wait()
        try? FileManager.default.removeItem(atPath: outPath)
    }
}
