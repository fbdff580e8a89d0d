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
    let pacing: CarrierPacing

    /// Where `switchboard webhook` is reachable from Twilio (`SWITCHBOARD_PUBLIC_URL`): sends without
    /// their own `statusCallback` ask for status callbacks there.
    let webhookBaseURL: String?

    /// `horizon`: how far ahead a sender's slots may be booked (see `SendSlots`); `carrierWindow`:
    /// the window carriers meter per-minute budgets over (a minute; see `CarrierPacing`).
    public init(
        client: TwilioClient, accounts: AccountStore, deliveries: DeliveryStore, horizon: Duration = .seconds(300),
        webhookBaseURL: String? = nil, carrierWindow: Duration = .seconds(60)
    ) {
        self.webhookBaseURL = webhookBaseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        slots = SendSlots(senders: SenderStore(pool: deliveries.pool), horizon: horizon)
        pacing = CarrierPacing(
            carriers: CarrierStore(pool: deliveries.pool), client: client, horizon: horizon, window: carrierWindow)
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

    /// The gates of a message, in order: a valid payload, a usable account, an active campaign,
    /// the recipient's send window, no opt-out, nothing sent by an interrupted attempt, the
    /// campaign's and the sender's rate-limit slots, the campaign still active after the wait, a
    /// lease that outlasts the request; then Twilio, and the message recorded.
    func sendMessage(_ job: ClaimedJob, _ context: JobContext, channel: MessageSpec.Channel) async throws -> JobOutcome
    {
        let started = ContinuousClock.now
        return try await throughGates {
            let spec = try Self.parsed { try Self.messageSpec(job.payload, channel: channel) }
            let account = try await admittedAccount(spec.account)
            let campaignCap = try await admittingCampaign(spec.campaignId, job)
            try withinSendWindow(spec)
            try await notSuppressed(spec, account)
            if let adopted = try await sentBefore(
                job, context, what: "message", { try await reconcileMessage(job, spec, account) })
            {
                return .completed(result: Self.result(adopted, spec))
            }
            let from = try await bookedSlot(job, spec, account, campaigned: campaignCap != nil, context)
            // Waiting for the slot may have taken a moment: a pause in the meantime still holds.
            _ = try await admittingCampaign(spec.campaignId, job)
            try leaseHolds(context)
            let message: TwilioMessage
            do {
                (message, _) = try await client.createMessage(
                    messageRequest(spec, from: from), credentials: account.credentials)
                Metrics.Timer(label: MetricNames.sendLatency, dimensions: [("channel", spec.channel.rawValue)])
                    .record(duration: ContinuousClock.now - started)
            } catch {
                throw try await twilioRefusal(error, account: account.record, recipient: spec.to, context: context)
            }
            do {
                try await messageRows.submit(row(message, spec, account.record.id, job.id, origin: "created"))
            } catch {
                // Twilio has the message; the next attempt finds and adopts it instead of sending again.
                return .outcomeUnknown(error: "sent as \(message.sid) but recording it failed: \(error)")
            }
            return .completed(result: Self.result(message, spec))
        }
    }

    /// The sender to send from once the campaign's slot (when it has a rate cap), the carrier's
    /// (an SMS to a US number under a registered 10DLC campaign) and the sender's (or the pool's)
    /// slot are booked; a slot that is later stops the job until then.
    func bookedSlot(
        _ job: ClaimedJob, _ spec: MessageSpec, _ account: AccountCache.Entry, campaigned: Bool, _ context: JobContext
    ) async throws -> String? {
        var campaignDone = false
        if let campaignID = spec.campaignId, campaigned {
            if let outcome = try await slots.campaignGate(
                job: job, campaigns: campaigns, campaignID: campaignID, logger: context.logger)
            {
                throw Stop(outcome: outcome)
            }
            campaignDone = true
        }
        let paced = try await pacing.admit(
            job: job, spec: spec, account: account, kept: SendSlots.kept(job, logger: context.logger),
            campaignDone: campaignDone, logger: context.logger)
        switch try await slots.decide(
            job: job, spec: spec, accountID: account.record.id, campaignDone: campaignDone, logger: context.logger)
        {
        case .send(let reserved):
            if let paced, !paced.stillOpen {
                // The sender's slot came too late for the carrier's: that one is given up (every
                // 60-second window stays within the carrier budget), and both are booked again.
                Counter(label: MetricNames.carrierSlotMissed, dimensions: [("carrier", paced.carrier.rawValue)])
                    .increment()
                throw Stop(
                    outcome: .snoozed(
                        delay: .zero,
                        metadata: try PostgresJSON.encoding(
                            SendSlots.Kept(campaignDone: campaignDone ? true : nil)
                        ).text))
            }
            return reserved ?? spec.from
        case .outcome(let outcome): throw Stop(outcome: outcome)
        }
    }

    func messageRequest(_ spec: MessageSpec, from: String?) -> CreateMessageRequest {
        var request = CreateMessageRequest(
            to: spec.to, from: from, messagingServiceSID: spec.messagingServiceSid, body: spec.body)
        request.mediaURLs = spec.mediaUrls
        request.statusCallback = spec.statusCallback ?? webhookBaseURL.map { $0 + WebhookPaths.messageStatus }
        request.contentSID = spec.contentSid
        request.contentVariables = spec.contentVariables
        request.validityPeriod = spec.validityPeriod
        request.smartEncoded = spec.smartEncoding ? true : nil
        return request
    }

    // MARK: calls

    /// The gates of a call: a valid payload, a usable account, then those every call meets
    /// (`callGates`); then Twilio, and the call recorded.
    func placeCall(_ job: ClaimedJob, _ context: JobContext) async throws -> JobOutcome {
        try await throughGates {
            let spec = try Self.parsed { try Self.voiceSpec(job.payload) }
            let account = try await admittedAccount(spec.account)
            if let adopted = try await callGates(job, to: spec.to, from: spec.from, quietHours: spec, account, context)
            {
                return .completed(result: Self.result(adopted, spec))
            }
            var request = CreateCallRequest(to: spec.to, from: spec.from, twiml: spec.twiml)
            request.record = spec.record ? true : nil
            if spec.record {
                request.recordingChannels = spec.recordingChannels
                request.recordingStatusCallback = webhookBaseURL.map { $0 + WebhookPaths.recordingStatus }
            }
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
    }

    /// Places the call and records it. Twilio's errors become the job's outcome; a failure to
    /// record is only logged, since the call exists and failing the job would invite a second one.
    /// `recorded` runs after the row is written (e.g. to bind a session to the call).
    func createAndRecordCall(
        _ request: CreateCallRequest, job: ClaimedJob, account: AccountCache.Entry, _ context: JobContext,
        recorded: (TwilioCall) async throws -> Void = { _ in }, result: (TwilioCall) -> String
    ) async throws -> JobOutcome {
        try leaseHolds(context)
        let call: TwilioCall
        do {
            (call, _) = try await client.createCall(request, credentials: account.credentials)
        } catch {
            throw try await twilioRefusal(error, account: account.record, recipient: request.to, context: context)
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

    /// The gates every call meets before it is placed: a call an interrupted attempt placed is
    /// returned for adoption; the recipient's send window; a slot on the account's
    /// calls-per-second limit.
    func callGates(
        _ job: ClaimedJob, to: String, from: String, quietHours: some QuietHoursSpec, _ account: AccountCache.Entry,
        _ context: JobContext
    ) async throws -> TwilioCall? {
        if let adopted = try await sentBefore(
            job, context, what: "call", { try await reconcileCall(job, to: to, from: from, account) })
        {
            return adopted
        }
        try withinSendWindow(quietHours)
        switch try await slots.decideCall(
            job: job, accounts: accounts, accountID: account.record.id, logger: context.logger)
        {
        case .send: return nil
        case .outcome(let outcome): throw Stop(outcome: outcome)
        }
    }

    // MARK: outcomes

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
            status: message.status, origin: origin, campaignID: spec.campaignId)
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
