import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import ServiceTask
import Synchronization
import Twilio

/// A fake Twilio speaking the REST API over real HTTP, for the demo, the tests and the benchmarks.
///
/// Run it as a `Service` (or with `start()`), point `TwilioClient` at `baseURL`, and inspect what
/// it accepted with `messages()` / `calls()`. Status callbacks are posted like Twilio's, signed
/// with `X-Twilio-Signature` using the account's auth token.
public final class TwilioSimulator: Service, Sendable {
    public let configuration: SimulatorConfiguration
    let state: SimulatorState
    let logger: Logger
    let startedAt = ContinuousClock.now
    private let boundPort = Mutex<Int?>(nil)
    private let callbacks: AsyncStream<ScheduledStep>
    private let callbackContinuation: AsyncStream<ScheduledStep>.Continuation

    public init(configuration: SimulatorConfiguration, logger: Logger = Logger(label: "twilio.simulator")) {
        self.configuration = configuration
        self.logger = logger
        state = SimulatorState(configuration: configuration)
        (callbacks, callbackContinuation) = AsyncStream.makeStream()
    }

    /// `http://host:port` once the server listens.
    public var baseURL: String? {
        boundPort.withLock { port in port.map { "http://\(configuration.host):\($0)" } }
    }

    /// Every message accepted so far, in arrival order.
    public func messages() async -> [SimulatedMessage] { await state.messages }
    public func calls() async -> [SimulatedCall] { await state.calls }
    public func recordings() async -> [SimulatedRecording] { await state.recordings }
    /// Create requests refused with a Twilio error (validation or injected faults).
    public func rejectedRequests() async -> Int { await state.rejectedRequests }
    /// Lookup requests answered (each one a paid lookup at Twilio).
    public func lookups() async -> Int { await state.lookups }
    /// REST reads so far: message and call fetches and list pages (what pricing costs at Twilio).
    public func restReads() async -> Int { await state.restReads }
    /// Of those, list pages.
    public func listReads() async -> Int { await state.listReads }

    public func run() async throws {
        let router = Router()
        SimulatorRoutes(simulator: self).register(on: router)
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "twilio-simulator"),
            onServerRunning: { channel in
                self.boundPort.withLock { $0 = channel.localAddress?.port }
            },
            logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.deliverCallbacks() }
            try await app.run()
            callbackContinuation.finish()
        }
    }

    /// Starts the simulator in the background and waits until it listens. Stop it with `stop()`
    /// (gracefully: in-flight requests finish, accepted connections are closed).
    public func start() async throws -> ServiceTask {
        let task = ServiceTask(self, logger: logger)
        let deadline = ContinuousClock.now + .seconds(10)
        while baseURL == nil {
            guard ContinuousClock.now < deadline else {
                task.stop()
                throw TwilioClient.Failure.transport(message: "simulator did not start", mayHaveBeenProcessed: false)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return task
    }

    // MARK: status progression and callbacks

    /// A status change due at `at`, posted to the status callback if there is one.
    struct ScheduledStep: Sendable {
        enum Target: Sendable {
            case message(status: String, errorCode: Int?)
            case call(status: String, duration: Int?, notify: Bool)
        }
        var at: ContinuousClock.Instant
        var account: String
        var sid: String
        var target: Target
    }

    func schedule(_ step: ScheduledStep) {
        callbackContinuation.yield(step)
    }

    /// Applies each status change at its time (the status changes even without a callback URL,
    /// as at Twilio) and posts the callback: concurrently across resources, in order for one
    /// resource (each step waits for the one before, which a busy machine could otherwise wake
    /// second and leave a message `sent` after `undelivered`).
    private func deliverCallbacks() async {
        let chains = StepChains()
        await withTaskCancellationHandler {
            for await step in callbacks {
                chains.append(after: step.sid) {
                    try? await Task.sleep(until: step.at)
                    guard !Task.isCancelled else { return }
                    await self.apply(step)
                }
            }
            chains.cancelAll()
        } onCancel: {
            chains.cancelAll()
        }
    }

    private func apply(_ step: ScheduledStep) async {
        var parameters = FormParameters()
        parameters.append("AccountSid", step.account)
        let url: String?
        let status: String
        var answered: SimulatedCall?
        switch step.target {
        case .message(let newStatus, let code):
            guard let message = await state.advance(sid: step.sid, to: newStatus, errorCode: code, now: Date()) else {
                return
            }
            status = newStatus
            url = message.statusCallback
            parameters.append("MessageSid", step.sid)
            parameters.append("SmsSid", step.sid)
            parameters.append("MessageStatus", newStatus)
            parameters.append("SmsStatus", newStatus)
            parameters.append("To", message.resource.to)
            parameters.append("From", message.resource.from)
            parameters.append("ErrorCode", code.map(String.init))
        case .call(let newStatus, let duration, let notify):
            guard let call = await state.advanceCall(sid: step.sid, to: newStatus, duration: duration) else { return }
            status = newStatus
            url = notify ? call.statusCallback : nil
            answered = newStatus == "in-progress" ? call : nil
            parameters.append("CallSid", step.sid)
            parameters.append("CallStatus", newStatus)
            parameters.append("To", call.resource.to)
            parameters.append("From", call.resource.from)
            parameters.append("Direction", "outbound-api")
            parameters.append("CallDuration", duration.map(String.init))
        }
        parameters.append("ApiVersion", "2010-04-01")
        if let url {
            await post(url: url, account: step.account, sid: step.sid, status: status, parameters: parameters)
        }
        if case .call("completed", let duration, _) = step.target, let call = await state.call(sid: step.sid),
            call.record
        {
            await postRecording(of: call, duration: duration ?? 1, account: step.account)
        }
        if let call = answered, let token = configuration.accounts[step.account] {
            // Answered: play the TwiML, then complete the call.
            let seconds = await CallSession(simulator: self, call: call, token: token).run()
            let notifyCompletion = await state.wantsCompletionCallback(sid: step.sid)
            schedule(
                .init(
                    at: .now + configuration.callbackStep, account: step.account, sid: step.sid,
                    target: .call(status: "completed", duration: max(1, seconds), notify: notifyCompletion)))
        }
    }

    /// A recorded call ended: its recording exists, and its status goes to the
    /// RecordingStatusCallback, as Twilio posts it.
    private func postRecording(of call: SimulatedCall, duration: Int, account: String) async {
        let recording = await state.makeRecording(of: call, duration: duration)
        guard let url = call.recordingStatusCallback else { return }
        var parameters = FormParameters()
        parameters.append("AccountSid", account)
        parameters.append("CallSid", call.resource.sid)
        parameters.append("RecordingSid", recording.sid)
        parameters.append(
            "RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/\(account)/Recordings/\(recording.sid)")
        parameters.append("RecordingStatus", "completed")
        parameters.append("RecordingDuration", String(duration))
        parameters.append("RecordingChannels", String(recording.channels))
        parameters.append("RecordingSource", "OutboundAPI")
        parameters.append("RecordingStartTime", TwilioFormat.rfc2822(Date()))
        await post(url: url, account: account, sid: recording.sid, status: "completed", parameters: parameters)
    }

    private func post(url: String, account: String, sid: String, status: String, parameters: FormParameters) async {
        guard let token = configuration.accounts[account] else { return }
        do {
            _ = try await SignedWebhook.post(url, parameters: parameters, authToken: token)
            await state.recordCallback(sid: sid, status: status)
        } catch {
            logger.debug("status callback failed", metadata: ["url": "\(url)", "error": "\(error)"])
        }
    }
}

/// One chain of tasks per resource SID: a task appended for a SID starts its work once the SID's
/// previous task has finished. A chain is forgotten when its last task ends.
final class StepChains: Sendable {
    private let tails = Mutex<[String: (id: UInt64, task: Task<Void, Never>)]>([:])
    private let counter = Atomic<UInt64>(0)

    func append(after sid: String, _ work: @escaping @Sendable () async -> Void) {
        let id = counter.add(1, ordering: .relaxed).newValue
        tails.withLock { tails in
            let previous = tails[sid]?.task
            let task = Task {
                await previous?.value
                await work()
                self.finished(sid, id)
            }
            tails[sid] = (id, task)
        }
    }

    func cancelAll() {
        tails.withLock { tails in tails.values.forEach { $0.task.cancel() } }
    }

    private func finished(_ sid: String, _ id: UInt64) {
        tails.withLock { tails in
            if tails[sid]?.id == id { tails[sid] = nil }
        }
    }
}
