import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Queue one SMS, WhatsApp message, voice call or voice-agent call (a worker sends it).",
        discussion: """
            Examples:
              switchboard send sms --account main --from +15551234567 --to +15559876543 \\
                  --body 'Hi {{name}}, your order #{{order}} has shipped.' --var name=Ana --var order=1042
              switchboard send whatsapp --account main --from +14155238886 --to +15559876543 --body 'Your code: 123456'
              switchboard send voice --account main --from +15551234567 --to +15559876543 \\
                  --message 'Hello {{name}}, this is a reminder.' --var name=Ana --voice alice --language en-US
              switchboard send voice-agent --account main --from +15551234567 --to +15559876543 \\
                  --questions survey.json --var name=Ana             # a scripted interview (docs/VOICE_AGENTS.md)
              switchboard send voice-agent --account main --from +15551234567 --to +15559876543 \\
                  --system-prompt 'You are a friendly scheduling assistant for {{company}}.' --var company=Acme \\
                  --model gpt-4o-mini
            Templates are checked and rendered now: a missing variable is an error, nothing is queued.
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case sms, whatsapp, voice
        case voiceAgent = "voice-agent"
    }

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "sms, whatsapp, voice or voice-agent.") var kind: Kind
    @Option(help: "Account name (see `switchboard accounts list`).") var account: String
    @Option(help: "Recipient, E.164 (+15559876543); a template is allowed.") var to: String
    @Option(help: "Sender number, E.164.") var from: String?
    @Option(help: "Messaging Service SID (MG…) instead of --from.") var messagingServiceSid: String?
    @Option(help: "A Switchboard number pool instead of --from (the worker picks the sender).") var pool: String?
    @Option(help: "Message text (sms, whatsapp); a template.") var body: String?
    @Option(help: "Spoken text (voice); a template.") var message: String?
    @Option(name: .customLong("var"), help: "A template variable, name=value (repeatable).") var variables: [String] =
        []
    @Option(help: "Media URL (repeatable, at most 10).") var mediaUrl: [String] = []
    @Option(help: "Voice agent: a JSON file with the interview's questions (a scripted agent).") var questions: String?
    @Option(help: "Voice agent: the LLM agent's instructions (an LLM agent, needs OPENAI_API_KEY on the webhook).")
    var systemPrompt: String?
    @Option(help: "Voice agent: the model of an LLM agent (required for one, e.g. gpt-4o-mini).") var model: String?
    @Option(help: "Voice agent: what it says first; a template.") var greeting: String?
    @Option(help: "Voice: alice, man, woman, Polly.*, Google.*.") var voice: String?
    @Option(help: "Language, e.g. en-US.") var language: String?
    @Option(help: "Status callback URL.") var statusCallback: String?
    @Option(name: .customLong("key"), help: "Idempotency key.") var idempotencyKey: String?
    @Option(help: "Quiet hours: send only inside this window of the recipient's local time, e.g. 08:00-21:00.")
    var sendWindow: String?
    @Option(help: "The recipient's time zone (e.g. America/New_York) when the number does not tell it.")
    var timezone: String?
    @Flag(help: "Replace Unicode look-alikes with GSM-7 characters (fewer segments).") var smartEncoding = false
    @Flag(help: "Print the answer as JSON.") var json = false

    func parsedVariables() throws -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for entry in variables {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--var '\(entry)' must look like name=value")
            }
            values[String(parts[0])] = .string(String(parts[1]))
        }
        return values
    }

    func run() async throws {
        let variables = try parsedVariables()
        let enqueued: EnqueuedJob
        do {
            switch kind {
            case .sms, .whatsapp:
                var request = MessageRequest(account: account, to: to, from: from, body: body, variables: variables)
                request.messagingServiceSid = messagingServiceSid
                request.pool = pool
                request.sendWindow = sendWindow
                request.timezone = timezone
                request.mediaUrls = mediaUrl.isEmpty ? nil : mediaUrl
                request.language = language
                request.statusCallback = statusCallback
                request.smartEncoding = smartEncoding
                // Validate before touching the database, so bad input is a usage error.
                _ = try SendJobs.withQuietHours(try request.resolve(channel: kind == .sms ? .sms : .whatsapp))
                enqueued = try await database.withPool { pool in
                    try await checkTargets(pool)
                    return try await SendJobs.enqueue(
                        request, channel: kind == .sms ? .sms : .whatsapp, store: JobStore(pool: pool),
                        idempotencyKey: idempotencyKey)
                }
            case .voice:
                guard let from else { throw ValidationError("--from is required for voice calls") }
                guard let message else { throw ValidationError("--message is required for voice calls") }
                var request = VoiceRequest(account: account, to: to, from: from, message: message, variables: variables)
                request.voice = voice
                request.sendWindow = sendWindow
                request.timezone = timezone
                request.language = language
                request.statusCallback = statusCallback
                _ = try SendJobs.withQuietHours(try request.resolve())  // validate first, as above
                enqueued = try await database.withPool { pool in
                    try await checkTargets(pool)
                    return try await SendJobs.enqueue(
                        request, store: JobStore(pool: pool), idempotencyKey: idempotencyKey)
                }
            case .voiceAgent:
                let request = try voiceAgentRequest(variables)
                _ = try SendJobs.withQuietHours(try request.resolve())  // validate first, as above
                enqueued = try await database.withPool { pool in
                    try await checkTargets(pool)
                    return try await SendJobs.enqueue(
                        request, store: JobStore(pool: pool), idempotencyKey: idempotencyKey)
                }
            }
        } catch let error as InputError {
            throw ValidationError(error.description)
        }
        print(
            json
                ? #"{"id": \#(enqueued.id), "existing": \#(enqueued.existing)}"#
                : "queued \(kind.rawValue) job \(enqueued.id)")
    }

    /// A job for an account (or pool) that does not exist could only fail at the worker: refused
    /// here, naming the flag.
    func checkTargets(_ pool: PostgresPool) async throws {
        let id = try await accountID(named: account, pool: pool)
        if let poolName = self.pool, try await SenderStore(pool: pool).poolID(accountID: id, name: poolName) == nil {
            throw ValidationError(
                "--pool: account '\(account)' has no pool named '\(poolName)' (see `switchboard pools list`)")
        }
    }

    /// A scripted interview (`--questions file.json`) or an LLM agent (`--system-prompt`).
    func voiceAgentRequest(_ variables: [String: JSONValue]) throws -> VoiceAgentRequest {
        guard let from else { throw ValidationError("--from is required for voice-agent calls") }
        var request: VoiceAgentRequest
        switch (questions, systemPrompt) {
        case (let path?, nil):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("--questions: cannot read '\(path)'")
            }
            guard let flow = try? JSONDecoder().decode(JSONValue.self, from: data) else {
                throw ValidationError("--questions: '\(path)' is not JSON (see docs/VOICE_AGENTS.md for the format)")
            }
            request = VoiceAgentRequest(account: account, to: to, from: from, questions: flow, variables: variables)
        case (nil, let prompt?):
            request = VoiceAgentRequest(account: account, to: to, from: from, questions: .null, variables: variables)
            request.questions = nil
            request.agentType = "llm"
            request.systemPrompt = prompt
            request.model = model
        default:
            throw ValidationError(
                "voice-agent needs either --questions flow.json (a scripted interview) or --system-prompt '…' (an LLM agent)"
            )
        }
        request.greeting = greeting
        request.voice = voice
        request.language = language
        request.sendWindow = sendWindow
        request.timezone = timezone
        return request
    }
}
