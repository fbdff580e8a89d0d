import Foundation
import Logging
import SwitchboardEvents
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import TestSupport

/// Two webhook servers sharing one database behind a round-robin proxy: the public URL Twilio
/// (the simulator) calls alternates between them, request by request.
enum TwoWebhookHosts {
    static func with<T: Sendable>(
        _ db: TestDatabase, accounts: AccountStore, llm: LLMConfiguration = LLMConfiguration(),
        toolSecret: WebhookSecret? = nil, _ body: (_ publicURL: String, _ proxy: RoundRobinProxy) async throws -> T
    ) async throws -> T {
        let proxyPort = try freeLoopbackPort()
        let publicURL = "http://127.0.0.1:\(proxyPort)"
        var logger = Logger(label: "test.webhook")
        logger.logLevel = .warning
        var backends: [String] = []
        var servers: [WebhookProcess] = []
        for _ in 0..<2 {
            var configuration = WebhookConfiguration(publicURL: publicURL)
            configuration.port = try freeLoopbackPort()
            configuration.llm = llm
            configuration.toolSecret = toolSecret
            backends.append("http://127.0.0.1:\(configuration.port)")
            servers.append(
                try WebhookProcess(configuration: configuration, pool: db.pool, accounts: accounts, logger: logger))
        }
        let proxy = RoundRobinProxy(port: proxyPort, backends: backends)
        let (first, second) = (servers[0], servers[1])
        let running = [
            ServiceTask(group: first.serviceGroup()), ServiceTask(group: second.serviceGroup()),
            ServiceTask(proxy, logger: logger),
        ]
        defer { for task in running { task.stop() } }
        guard await eventually(timeout: .seconds(10), { first.port != nil && second.port != nil }) else {
            throw WebhookHarness.HarnessError(description: "the webhook servers did not start")
        }
        return try await body(publicURL, proxy)
    }
}
