import Foundation
import Logging
import Metrics
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Twilio

/// The `sms`, `whatsapp` and `voice` job handlers: check the account and the suppression list,
/// reconcile an interrupted earlier attempt, call Twilio, record the message or call, and map
/// Twilio's errors to retry / fail / suppress / flag.
public final class TwilioSender: Sendable {
    let client: TwilioClient
    let accounts: AccountStore
    let deliveries: DeliveryStore
    let cache: AccountCache
    /// Concurrent sends share suppression lookups and message inserts.
    let suppressionChecks: Batcher<SuppressionCheck, Bool>
    let messageRows: Batcher<MessageRow, Void>
    /// Campaign states, read before every campaign send so a pause takes effect at once.
    let campaignStates: Batcher<Int64, (state: CampaignState?, rateCap: Double?)>
    let campaigns: CampaignStore

    struct SuppressionCheck: Sendable {
        var accountID: Int64
        var address: String
        var sender: String?
        var pool: String?
    }

    let slots: SendSlots

    /// Where `switchboard webhook` is reachable from Twilio (`SWITCHBOARD_PUBLIC_URL`): sends without
    /// their own `statusCallback` ask for status callbacks there.
    let webhookBaseURL: String?

    /// `horizon`: how far ahead a sender's slots may be booked (see `SendSlots`).
    public init(
        client: TwilioClient, accounts: AccountStore, deliveries: DeliveryStore, horizon: Duration = .seconds(300),
        webhookBaseURL: String? = nil
    ) {
        self.webhookBaseURL = webhookBaseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        slots = SendSlots(senders: SenderStore(pool: deliveries.pool), horizon: horizon)
        self.client = client
        self.accounts = accounts
        self.deliveries = deliveries
        cache = AccountCache(accounts: accounts)
        suppressionChecks = Batcher { checks in
            try await deliveries.suppressed(checks.map { ($0.accountID, $0.address, $0.sender, $0.pool) })
        }
        let campaigns = CampaignStore(pool: deliveries.pool)
        self.campaigns = campaigns
        campaignStates = Batcher { ids in try await campaigns.states(ids: ids) }
        messageRows = Batcher { rows in
            try await deliveries.record(rows)
            return rows.map { _ in () }
        }
    }

    /// Registers the handlers for `sms`, `whatsapp` and `voice`.
    public func register(in registry: inout HandlerRegistry) {
        registry.register(SendJobs.smsKind) { job, context in try await self.sendMessage(job, context, channel: .sms) }
        registry.register(SendJobs.whatsappKind) { job, context in
            try await self.sendMessage(job, context, channel: .whatsapp)
        }
        registry.register(SendJobs.voiceKind) { job, context in try await self.placeCall(job, context) }
        registry.register(SendJobs.voiceAgentKind) { job, context in try await self.placeAgentCall(job, context) }
    }

    // MARK: messages

    func sendMessage(_ job: ClaimedJob, _ context: JobContext, channel: MessageSpec.Channel) async throws -> JobOutcome
    {
        let started = ContinuousClock.now
        let spec: MessageSpec
        do { spec = try Self.messageSpec(job.payload, channel: channel) } catch {
            return .failed(error: "invalid payload: \(error)", permanent: true)
        }
        let account: AccountCache.Entry
        switch try await usableAccount(spec.account) {
        case .success(let entry): account = entry
        case .failure(let refusal): return refusal.outcome
        }
        var campaignCap: Double?
        if let campaignID = spec.campaignId {
            if let held = try await campaignHold(campaignID, job) { return held }
            campaignCap = try await campaignStates.submit(campaignID).rateCap
        }
        if let wait = SendJobs.quietWait(window: spec.sendWindow, timezone: spec.timezone) {
            // Outside the recipient's send window: wait for it to open (no attempt used).
            return .snoozed(delay: wait, metadata: "{}")
        }
        let check = SuppressionCheck(
            accountID: account.record.id, address: spec.to, sender: spec.from, pool: spec.pool)
        if try await suppressionChecks.submit(check) {
            return .failed(error: "opted_out: the recipient has opted out; not sent", permanent: true)
        }
        if job.previousOutcomeUnknown {
            do {
                if let adopted = try await reconcileMessage(job, spec, account) {
                    context.logger.notice(
                        "adopted a message an interrupted attempt had sent",
                        metadata: ["twilio.message_sid": "\(adopted.sid)"])
                    return .completed(result: Self.result(adopted, spec))
                }
            } catch let failure as ReconciliationFailure {
                return .outcomeUnknown(error: failure.description)
            }
        }
        var campaignDone = false
        if let campaignID = spec.campaignId, campaignCap != nil {
            if let outcome = try await slots.campaignGate(
                job: job, campaigns: campaigns, campaignID: campaignID, logger: context.logger)
            {
                return outcome
            }
            campaignDone = true
        }
        var from = spec.from
        switch try await slots.decide(
            job: job, spec: spec, accountID: account.record.id, campaignDone: campaignDone, logger: context.logger)
        {
        case .send(let reserved): from = reserved ?? spec.from
        case .outcome(let outcome): return outcome
        }
        // Waiting for the slot may have taken a moment: a pause in the meantime still holds.
        if let campaignID = spec.campaignId, let held = try await campaignHold(campaignID, job) { return held }
        var request = CreateMessageRequest(
            to: spec.to, from: from, messagingServiceSID: spec.messagingServiceSid, body: spec.body)
        request.mediaURLs = spec.mediaUrls
        request.statusCallback = spec.statusCallback ?? webhookBaseURL.map { $0 + WebhookPaths.messageStatus }
        request.contentSID = spec.contentSid
        request.contentVariables = spec.contentVariables
        request.validityPeriod = spec.validityPeriod
        request.smartEncoded = spec.smartEncoding ? true : nil
        if let unsure = leaseFence(context) { return unsure }
        let message: TwilioMessage
        do {
            (message, _) = try await client.createMessage(request, credentials: account.credentials)
            Metrics.Timer(label: MetricNames.sendLatency, dimensions: [("channel", spec.channel.rawValue)])
                .record(duration: ContinuousClock.now - started)
        } catch {
            return try await outcome(for: error, account: account.record, recipient: spec.to, context: context)
        }
        do {
            try await messageRows.submit(row(message, spec, account.record.id, job.id, origin: "created"))
        } catch {
            // Twilio has the message; the next attempt finds and adopts it instead of sending again.
            return .outcomeUnknown(error: "sent as \(message.sid) but recording it failed: \(error)")
        }
        return .completed(result: Self.result(message, spec))
    }

    // MARK: calls

    func placeCall(_ job: ClaimedJob, _ context: JobContext) async throws -> JobOutcome {
        let spec: VoiceSpec
        do { spec = try Self.voiceSpec(job.payload) } catch {
            return .failed(error: "invalid payload: \(error)", permanent: true)
        }
        let account: AccountCache.Entry
        switch try await usableAccount(spec.account) {
        case .success(let entry): account = entry
        case .failure(let refusal): return refusal.outcome
        }
        switch try await callGate(job, to: spec.to, from: spec.from, quietHours: spec, account: account, context) {
        case .adopted(let call): return .completed(result: Self.result(call, spec))
        case .hold(let outcome): return outcome
        case .proceed: break
        }
        var request = CreateCallRequest(to: spec.to, from: spec.from, twiml: spec.twiml)
        request.record = spec.record ? true : nil
        request.timeout = spec.timeout
        request.timeLimit = spec.timeLimit
        request.machineDetection = spec.machineDetection
        request.statusCallback = spec.statusCallback ?? webhookBaseURL.map { $0 + WebhookPaths.callStatus }
        if request.statusCallback != nil {
            request.statusCallbackEvents = ["initiated", "ringing", "answered", "completed"]
        }
        return try await createAndRecordCall(request, job: job, account: account, context) { call in
            Self.result(call, spec)
        }
    }

    /// Places the call and records it. Twilio's errors become the job's outcome; a failure to
    /// record is only logged, since the call exists and failing the job would invite a second one.
    /// `recorded` runs after the row is written (e.g. to bind a session to the call).
    func createAndRecordCall(
        _ request: CreateCallRequest, job: ClaimedJob, account: AccountCache.Entry, _ context: JobContext,
        recorded: (TwilioCall) async throws -> Void = { _ in }, result: (TwilioCall) -> String
    ) async throws -> JobOutcome {
        if let unsure = leaseFence(context) { return unsure }
        let call: TwilioCall
        do {
            (call, _) = try await client.createCall(request, credentials: account.credentials)
        } catch {
            return try await outcome(for: error, account: account.record, recipient: request.to, context: context)
        }
        do {
            try await deliveries.recordCall(
                sid: call.sid, jobID: job.id, accountID: account.record.id, to: request.to, from: request.from,
                status: call.status, origin: "created")
            try await recorded(call)
        } catch {
            context.logger.error(
                "call placed but not recorded", metadata: ["twilio.call_sid": "\(call.sid)", "error": "\(error)"])
        }
        return .completed(result: result(call))
    }

    enum CallGate {
        /// An interrupted attempt had placed the call: adopt it.
        case adopted(TwilioCall)
        /// Not now: quiet hours, or the account's calls-per-second slot is later.
        case hold(JobOutcome)
        case proceed
    }

    /// Before placing a call: adopt one an interrupted attempt placed, wait for the recipient's
    /// send window, book a slot on the account's calls-per-second limit.
    func callGate(
        _ job: ClaimedJob, to: String, from: String, quietHours: some QuietHoursSpec, account: AccountCache.Entry,
        _ context: JobContext
    ) async throws -> CallGate {
        if job.previousOutcomeUnknown {
            do {
                if let adopted = try await reconcileCall(job, to: to, from: from, account) {
                    context.logger.notice(
                        "adopted a call an interrupted attempt had placed",
                        metadata: ["twilio.call_sid": "\(adopted.sid)"])
                    return .adopted(adopted)
                }
            } catch let failure as ReconciliationFailure {
                return .hold(.outcomeUnknown(error: failure.description))
            }
        }
        if let wait = SendJobs.quietWait(window: quietHours.sendWindow, timezone: quietHours.timezone) {
            return .hold(.snoozed(delay: wait, metadata: "{}"))
        }
        switch try await slots.decideCall(
            job: job, accounts: accounts, accountID: account.record.id, logger: context.logger)
        {
        case .send: return .proceed
        case .outcome(let outcome): return .hold(outcome)
        }
    }

    /// nil when the campaign is active; otherwise the outcome that holds (paused) or ends
    /// (cancelled) the job. Its metadata (kept bookings) survives a pause.
    func campaignHold(_ campaignID: Int64, _ job: ClaimedJob) async throws -> JobOutcome? {
        switch try await campaignStates.submit(campaignID).state {
        case .active: return nil
        case .paused: return .snoozed(delay: .seconds(1), metadata: job.metadata.text)
        case .cancelled: return .cancelled(reason: "campaign cancelled")
        case nil: return .cancelled(reason: "campaign deleted")
        }
    }

    // MARK: outcomes

    struct AccountRefusal: Error {
        var outcome: JobOutcome
    }

    /// The account's credentials, or the permanent failure when it is unknown or flagged.
    func usableAccount(_ name: String) async throws -> Result<AccountCache.Entry, AccountRefusal> {
        guard let account = try await cache.lookup(name) else {
            return .failure(
                AccountRefusal(
                    outcome: .failed(
                        error: "account: no Twilio account named '\(name)' (add it with `switchboard accounts add`)",
                        permanent: true)))
        }
        if let flagged = account.record.flagReason {
            return .failure(
                AccountRefusal(outcome: .failed(error: "account '\(name)' is flagged: \(flagged)", permanent: true)))
        }
        return .success(account)
    }

    /// Maps a Twilio failure to the job's outcome (twilio-facts.md §2).
    func outcome(for error: any Error, account: AccountRecord, recipient: String, context: JobContext) async throws
        -> JobOutcome
    {
        guard let failure = error as? TwilioClient.Failure else { throw error }
        switch failure {
        case .api(let api):
            let text = "twilio \(api.code.map(String.init) ?? "HTTP \(api.httpStatus)"): \(api.message)"
            switch TwilioErrorClassification.action(forHTTPStatus: api.httpStatus, code: api.code) {
            case .retry:
                return .failed(error: text, permanent: false)
            case .fail:
                return .failed(error: text, permanent: true)
            case .suppress:
                try await deliveries.suppress(
                    accountID: account.id, address: recipient, reason: "Twilio error 21610: recipient unsubscribed",
                    source: "twilio_error")
                return .failed(error: "opted_out: \(text)", permanent: true)
            case .flagAccount:
                try await accounts.flag(id: account.id, reason: text)
                await cache.forget(account.name)
                context.logger.error(
                    "Twilio rejected the account's credentials; account flagged",
                    metadata: ["account": "\(account.name)"])
                return .failed(error: text, permanent: true)
            }
        case .transport(let message, let mayHaveBeenProcessed):
            return mayHaveBeenProcessed
                ? .outcomeUnknown(error: "no answer from Twilio after sending (\(message)); will check before retrying")
                : .failed(error: "Twilio unreachable: \(message)", permanent: false)
        case .malformedResponse(let message):
            return .outcomeUnknown(error: "unreadable answer from Twilio (\(message)); will check before retrying")
        }
    }

    // MARK: helpers

    static func messageSpec(_ payload: JSONText, channel: MessageSpec.Channel) throws -> MessageSpec {
        // A stored spec is checked again: a producer's plain INSERT can look validated without being so.
        if let spec = try? payload.decode(MessageSpec.self) {
            guard spec.channel == channel else {
                throw InputError(field: "channel", problem: "'\(spec.channel.rawValue)' in a \(channel.rawValue) job")
            }
            return try SendJobs.withQuietHours(try spec.validated())
        }
        // A producer wrote the request itself (plain INSERT): validate it now.
        return try SendJobs.withQuietHours(
            try PostgresJSON(text: payload.text).decode(MessageRequest.self).resolve(channel: channel))
    }

    static func voiceSpec(_ payload: JSONText) throws -> VoiceSpec {
        if let spec = try? payload.decode(VoiceSpec.self) { return try SendJobs.withQuietHours(try spec.validated()) }
        return try SendJobs.withQuietHours(try payload.decode(VoiceRequest.self).resolve())
    }

    func row(_ message: TwilioMessage, _ spec: MessageSpec, _ accountID: Int64, _ jobID: Int64, origin: String)
        -> MessageRow
    {
        MessageRow(
            sid: message.sid, jobID: jobID, accountID: accountID, channel: spec.channel.rawValue, to: spec.to,
            from: message.from ?? spec.from,
            messagingServiceSID: spec.messagingServiceSid, body: spec.body,
            segments: Int(message.numSegments ?? "") ?? spec.segments,
            status: message.status, origin: origin)
    }

    /// The job result under the names workflows use.
    static func result(_ message: TwilioMessage, _ spec: MessageSpec) -> String {
        let cost: JSONValue = message.price.map { .string($0) } ?? .null
        let value: JSONValue = .object([
            "messageSid": .string(message.sid), "messageStatus": .string(message.status),
            "sentTimestamp": timestamp(message.dateCreated), "messageCost": cost,
            "recipientNumber": .string(spec.to),
            "segments": .int(Int64(Int(message.numSegments ?? "") ?? spec.segments)),
            "channel": .string(spec.channel.rawValue),
        ])
        return value.jsonText
    }

    static func result(_ call: TwilioCall, _ spec: VoiceSpec) -> String {
        let value: JSONValue = .object([
            "callSid": .string(call.sid), "callStatus": .string(call.status), "recipientNumber": .string(spec.to),
            "sentTimestamp": timestamp(call.dateCreated),
        ])
        return value.jsonText
    }

    static func timestamp(_ rfc2822: String?) -> JSONValue {
        guard let date = rfc2822.flatMap(TwilioDate.parse) else { return .null }
        return .string(ISO8601DateFormatter().string(from: date))
    }
}
