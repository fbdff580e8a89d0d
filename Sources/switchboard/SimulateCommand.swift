import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TwilioSimulator

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the Twilio simulator (the REST API on loopback, with status callbacks).",
        discussion: """
            Example:
              switchboard simulate --port 4010 --account AC0123456789abcdef0123456789abcdef:testtoken
              export SWITCHBOARD_TWILIO_BASE_URL=http://127.0.0.1:4010
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 4010
    @Option(name: .customLong("account"), help: "An account the simulator accepts, as SID:token (repeatable).")
    var accounts: [String] = []
    @Option(name: .customLong("fail-429"), help: "Probability of a 429 per create request (0…1).") var fail429 = 0.0
    @Option(name: .customLong("fail-500"), help: "Probability of a 500 per create request (0…1).") var fail500 = 0.0
    @Option(help: "Probability that a created message's or call's response is held back (the client times out).")
    var dropResponse = 0.0
    @Option(help: "How long a held-back response is delayed.") var dropHold = "30s"
    @Option(help: "Seed for SIDs and faults.") var seed: UInt64 = 42
    @Option(help: "How long a scripted caller waits before answering each prompt.") var answerDelay = "0s"
    @Option(
        name: .customLong("caller"),
        help: """
            Who answers calls to a number, as NUMBER=answer|answer|…: text is speech, #digits are keys, ~ is \
            silence, !text speaks over the agent's next answer (ConversationRelay) (repeatable).
            """)
    var callers: [String] = []
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard !accounts.isEmpty else { throw ValidationError("give at least one --account SID:token") }
        for account in accounts where account.split(separator: ":", maxSplits: 1).count != 2 {
            throw ValidationError("--account '\(account.prefix(8))…' must look like ACxxxx:token")
        }
        for caller in callers { _ = try Self.parseCaller(caller) }
        guard (0...1).contains(fail429), (0...1).contains(fail500), (0...1).contains(dropResponse) else {
            throw ValidationError("--fail-429, --fail-500 and --drop-response are probabilities in 0…1")
        }
        _ = try parseDuration(dropHold, flag: "--drop-hold")
        _ = try parseDuration(answerDelay, flag: "--answer-delay")
    }

    func run() async throws {
        var configuration = SimulatorConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.seed = seed
        configuration.faults.tooManyRequests = fail429
        configuration.faults.serverError = fail500
        configuration.faults.dropResponse = dropResponse
        configuration.faults.dropHold = try parseDuration(dropHold, flag: "--drop-hold")
        configuration.answerDelay = try parseDuration(answerDelay, flag: "--answer-delay")
        for account in accounts {
            let parts = account.split(separator: ":", maxSplits: 1)
            configuration.accounts[String(parts[0])] = String(parts[1])
        }
        for caller in callers {
            let (number, answers) = try Self.parseCaller(caller)
            configuration.callers[number] = answers
        }
        let logger = log.makeLogger("switchboard.simulate")
        let simulator = TwilioSimulator(configuration: configuration, logger: logger)
        logger.info("Twilio simulator listening", metadata: ["url": "http://\(host):\(port)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: simulator)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// `+15551234567=Ana Lima|#2|~` → the number and its answers.
    static func parseCaller(_ text: String) throws -> (String, [SimulatorConfiguration.CallerAnswer]) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, parts[0].hasPrefix("+"), parts[0].dropFirst().allSatisfy(\.isNumber) else {
            throw ValidationError("--caller '\(text)' must look like +15551234567=answer|answer")
        }
        let answers = parts[1].split(separator: "|", omittingEmptySubsequences: false).map {
            answer -> SimulatorConfiguration.CallerAnswer in
            let trimmed = answer.trimmingCharacters(in: .whitespaces)
            if trimmed == "~" || trimmed.isEmpty { return .silence }
            if trimmed.hasPrefix("#") { return .digits(String(trimmed.dropFirst())) }
            if trimmed.hasPrefix("!") { return .interrupting(String(trimmed.dropFirst())) }
            return .speech(trimmed)
        }
        return (String(parts[0]), answers)
    }
}
