import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore

/// Enqueueing sends: every field is validated and every template rendered *before* the job is
/// written, so bad input fails at enqueue with the field named, not at send time.
public enum SendJobs {
    public static let smsKind = "sms"
    public static let whatsappKind = "whatsapp"
    public static let voiceKind = "voice"
    /// A call that runs an interview (`VoiceAgentRequest`); its turns are served by `switchboard webhook`.
    public static let voiceAgentKind = "voice_agent"
    /// Kinds a worker with the sending handlers runs.
    public static let kinds = [smsKind, whatsappKind, voiceKind, voiceAgentKind]
    /// Sends fail fast on permanent errors; transient ones get this many attempts by default.
    public static let defaultMaxAttempts = 10

    /// Turns a producer's payload (a `MessageRequest` or `VoiceRequest` as JSON) into the
    /// validated payload stored with the job. Unknown kinds and fields are errors.
    public static func validatedPayload(kind: String, payload: String) throws(InputError) -> PostgresJSON {
        let object = try parseObject(payload)
        switch kind {
        case smsKind, whatsappKind:
            try MessageRequest.checkFields(object)
            let request = try decode(MessageRequest.self, payload)
            let spec = try withQuietHours(try request.resolve(channel: kind == smsKind ? .sms : .whatsapp))
            return try encode(spec)
        case voiceKind:
            try VoiceRequest.checkFields(object)
            let request = try decode(VoiceRequest.self, payload)
            return try encode(try withQuietHours(try request.resolve()))
        case voiceAgentKind:
            try VoiceAgentRequest.checkFields(object)
            let request = try decode(VoiceAgentRequest.self, payload)
            return try encode(try withQuietHours(try request.resolve()))
        case "noop":
            return PostgresJSON(text: payload)
        default:
            throw InputError(
                field: "kind",
                problem: "'\(kind)' is not a known job kind (known: noop, \(kinds.joined(separator: ", ")))")
        }
    }

    /// Enqueues an SMS or WhatsApp message.
    @discardableResult
    public static func enqueue(
        _ request: MessageRequest, channel: MessageSpec.Channel, store: JobStore, idempotencyKey: String? = nil,
        queue: String = JobSpec.defaultQueue, runAt: Date? = nil
    ) async throws -> EnqueuedJob {
        let spec = try withQuietHours(try request.resolve(channel: channel))
        let job = NewJob(
            kind: channel.rawValue, payload: try encode(spec), queue: queue, runAt: runAt,
            maxAttempts: defaultMaxAttempts,
            idempotencyKey: idempotencyKey)
        return try await store.enqueue(job)
    }

    /// Enqueues a text-to-speech call.
    @discardableResult
    public static func enqueue(
        _ request: VoiceRequest, store: JobStore, idempotencyKey: String? = nil, queue: String = JobSpec.defaultQueue
    ) async throws -> EnqueuedJob {
        let spec = try withQuietHours(try request.resolve())
        let job = NewJob(
            kind: voiceKind, payload: try encode(spec), queue: queue, maxAttempts: defaultMaxAttempts,
            idempotencyKey: idempotencyKey)
        return try await store.enqueue(job)
    }

    /// Enqueues a voice-agent call (the flow is validated now, with the question and field named).
    @discardableResult
    public static func enqueue(
        _ request: VoiceAgentRequest, store: JobStore, idempotencyKey: String? = nil,
        queue: String = JobSpec.defaultQueue
    ) async throws -> EnqueuedJob {
        let spec = try withQuietHours(try request.resolve())
        let job = NewJob(
            kind: voiceAgentKind, payload: try encode(spec), queue: queue, maxAttempts: defaultMaxAttempts,
            idempotencyKey: idempotencyKey)
        return try await store.enqueue(job)
    }

    /// Validates the send window and settles the time zone (given, or the number's own).
    public static func withQuietHours<Spec: QuietHoursSpec>(_ spec: Spec) throws(InputError) -> Spec {
        var spec = spec
        let recipient = try ChannelAddress(parsing: spec.to, field: "to").number
        spec.timezone =
            try QuietHours.resolve(window: spec.sendWindow, timeZone: spec.timezone, recipient: recipient)?.timeZone
            ?? spec.timezone
        return spec
    }

    /// How long a job must wait for its send window, or nil when it may send now.
    static func quietWait(window: String?, timezone: String?, now: Date = Date()) -> Duration? {
        guard let window, let timezone, let parsed = try? SendWindow(parsing: window) else { return nil }
        return QuietHours(window: parsed, timeZone: timezone).wait(from: now)
    }

    static func parseObject(_ payload: String) throws(InputError) -> [String: JSONValue] {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8)) else {
            throw InputError(field: "payload", problem: "is not valid JSON")
        }
        guard case .object(let object) = value else {
            throw InputError(field: "payload", problem: "must be a JSON object ({…})")
        }
        return object
    }

    static func decode<T: Decodable>(_ type: T.Type, _ payload: String) throws(InputError) -> T {
        try JobSpec.decode(type, payload)
    }

    static func encode(_ value: some Encodable) throws(InputError) -> PostgresJSON {
        do { return try PostgresJSON.encoding(value) } catch {
            throw InputError(field: "payload", problem: "cannot be encoded: \(error)")
        }
    }
}

/// A validated send that may carry quiet hours.
public protocol QuietHoursSpec {
    var to: String { get }
    var sendWindow: String? { get }
    var timezone: String? { get set }
}

extension MessageSpec: QuietHoursSpec {}
extension VoiceSpec: QuietHoursSpec {}
extension VoiceAgentSpec: QuietHoursSpec {}
