import EmbeddedPostgres
import Foundation
import TestSupport

/// What the process-level tests share: a `switchboard simulate` process on a free port, the
/// environment the other commands run with (database, master key, simulator URL), and an
/// account "main" added through `accounts add`.
struct CLISandbox {
    let simulator: ChildProcess
    let baseURL: String
    let accountSID: String
    let token: String
    let environment: [String: String]

    static func start(
        _ db: TestDatabase, accountSID: String, token: String, simulatorHost: String = "127.0.0.1",
        simulatorArguments: [String] = []
    ) async throws -> CLISandbox {
        let conninfo = db.configuration.parameters.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        return try await start(
            conninfo: conninfo, accountSID: accountSID, token: token, simulatorHost: simulatorHost,
            simulatorArguments: simulatorArguments)
    }

    /// The same on any database (e.g. a cluster of the test's own that it restarts).
    static func start(
        conninfo: String, accountSID: String, token: String, simulatorHost: String = "127.0.0.1",
        simulatorArguments: [String] = []
    ) async throws -> CLISandbox {
        let port = try freeLoopbackPort()
        let simulator = try ChildProcess(
            try switchboardBinary(),
            ["simulate", "--host", simulatorHost, "--port", "\(port)", "--account", "\(accountSID):\(token)"]
                + simulatorArguments)
        let baseURL = "http://\(simulatorHost):\(port)"
        let environment = [
            "SWITCHBOARD_DATABASE_URL": conninfo,
            "SWITCHBOARD_MASTER_KEY": "k1:" + Data(repeating: 9, count: 32).base64EncodedString(),
            "SWITCHBOARD_TWILIO_BASE_URL": baseURL, "TOKEN": token,
        ]
        let sandbox = CLISandbox(
            simulator: simulator, baseURL: baseURL, accountSID: accountSID, token: token, environment: environment)
        let add = try ChildProcess(
            "/bin/sh",
            [
                "-c", "printf '%s' \"$TOKEN\" | \"$0\" accounts add --name main --sid \(accountSID)",
                try switchboardBinary(),
            ],
            environment: environment)
        guard await add.wait() == 0 else {
            simulator.signal(SIGKILL)
            throw ChildProcess.Failure(description: "accounts add failed: \(add.output)")
        }
        return sandbox
    }

    /// Starts `switchboard <arguments>` with the sandbox's environment.
    func launch(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(try switchboardBinary(), arguments, environment: environment)
    }

    func stop() { simulator.signal(SIGKILL) }

    /// Runs `switchboard <arguments>` to completion; throws with its output unless it exits 0.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let child = try launch(arguments)
        guard await child.wait() == 0 else {
            throw ChildProcess.Failure(description: "switchboard \(arguments.joined(separator: " ")): \(child.output)")
        }
        return child.output
    }

    /// Runs `switchboard <arguments>` to completion: its exit status and output, whatever they are.
    func outcome(_ arguments: [String]) async throws -> (Int32, String) {
        let child = try launch(arguments)
        return (await child.wait(), child.output)
    }

    /// What the simulator received, from its `_simulator/messages` record (curl, as a user would).
    func receivedMessages() async throws -> [SimulatorMessage] {
        let list = try ChildProcess("/usr/bin/curl", ["-sf", "\(baseURL)/_simulator/messages"])
        guard await list.wait() == 0 else { throw ChildProcess.Failure(description: "curl: \(list.output)") }
        return try JSONDecoder().decode([SimulatorMessage].self, from: Data(list.output.utf8))
    }

    struct SimulatorMessage: Decodable {
        var sid: String
        var to: String
        var from: String?
        var body: String?
    }
}
