import Foundation
import Hummingbird
import NIOCore
import SwitchboardCore
import Twilio

/// The REST endpoints: `/2010-04-01/Accounts/{AccountSid}/Messages.json`, `…/Calls.json`.
struct SimulatorRoutes: Sendable {
    let simulator: TwilioSimulator

    func register(on router: Router<BasicRequestContext>) {
        let accounts = router.group("2010-04-01/Accounts/:account")
        accounts.post("Messages.json") { request, context in try await createMessage(request, context) }
        accounts.get("Messages.json") { request, context in try await listMessages(request, context) }
        accounts.get("Messages/:sid") { request, context in try await fetchMessage(request, context) }
        accounts.post("Calls.json") { request, context in try await createCall(request, context) }
        accounts.get("Calls.json") { request, context in try await listCalls(request, context) }
        accounts.get("Calls/:sid") { request, context in try await fetchCall(request, context) }
        accounts.delete("Recordings/:sid") { request, context in try await deleteRecording(request, context) }
        router.get("v2/PhoneNumbers/:number") { request, context in try await lookup(request, context) }
        router.get("health") { _, _ in "ok" }
        // Not Twilio's: someone calls one of an account's numbers (From, To, the number's voice Url,
        // its status callback); answers with the call (its CallSid) at once, as Twilio rings.
        router.post("_simulator/calls/inbound") { request, context in try await inboundCall(request, context) }
        // Not Twilio's: what the simulator received, with precise receive times, for tests and drills.
        router.get("_simulator/messages") { _, _ in
            let started = simulator.startedAt
            let messages = await simulator.messages().map { message in
                SimulatorRecord(
                    sid: message.resource.sid, to: message.resource.to, from: message.resource.from,
                    body: message.resource.body,
                    status: message.resource.status, segments: message.segments,
                    receivedMs: (message.receivedAt - started).seconds * 1000,
                    sentMs: (message.sendAt - started).seconds * 1000, carrier: message.carrier.rawValue,
                    errorCode: message.resource.errorCode)
            }
            return Self.json(messages)
        }
        router.get("_simulator/calls") { _, _ in
            let calls = await simulator.calls().map { call in
                SimulatorCallRecord(
                    sid: call.resource.sid, to: call.resource.to, from: call.resource.from,
                    status: call.resource.status, events: call.transcript.map(\.description))
            }
            return Self.json(calls)
        }
    }

    // MARK: handlers

    private func createMessage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, form) = try await authenticate(request, context, readForm: true)
        if let faulted = await injectedFault() { return faulted }
        let now = Date()
        switch await simulator.state.createMessage(account: account, form: form, now: now) {
        case .failure(let error):
            return Self.json(error)
        case .success(let message):
            await scheduleStatuses(for: message, account: account)
            if simulator.configuration.faults.dropResponse > 0, await simulator.state.drawFault() == .dropResponse {
                // Accepted, but the answer comes too late for the client: its outcome is unknown.
                try await Task.sleep(for: simulator.configuration.faults.dropHold)
            }
            return Self.json(message.resource, status: .created)
        }
    }

    private func listMessages(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, _) = try await authenticate(request, context, readForm: false)
        await simulator.state.noteRead(list: true)
        let query = request.uri.queryParameters
        let messages = await simulator.state.listMessages(
            account: account, to: query["To"].map(String.init), from: query["From"].map(String.init),
            dateSent: query["DateSent"].map(String.init))
        let (page, next) = Self.page(
            of: messages, request: request, path: "/2010-04-01/Accounts/\(account)/Messages.json")
        return Self.json(TwilioMessagePage(messages: page, nextPageUri: next))
    }

    private func fetchMessage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, _) = try await authenticate(request, context, readForm: false)
        await simulator.state.noteRead()
        let sid = Self.sid(context)
        guard let message = await simulator.state.message(sid: sid), message.resource.accountSid == account else {
            return Self.json(SimulatorState.error(20404, "The requested resource was not found", status: 404))
        }
        return Self.json(await simulator.state.published(message))
    }

    private func listCalls(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, _) = try await authenticate(request, context, readForm: false)
        await simulator.state.noteRead(list: true)
        let query = request.uri.queryParameters
        let calls = await simulator.state.listCalls(
            account: account, to: query["To"].map(String.init), from: query["From"].map(String.init))
        let (page, next) = Self.page(of: calls, request: request, path: "/2010-04-01/Accounts/\(account)/Calls.json")
        return Self.json(TwilioCallPage(calls: page, nextPageUri: next))
    }

    private func fetchCall(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, _) = try await authenticate(request, context, readForm: false)
        await simulator.state.noteRead()
        guard let call = await simulator.state.call(sid: Self.sid(context)), call.resource.accountSid == account else {
            return Self.json(SimulatorState.error(20404, "The requested resource was not found", status: 404))
        }
        return Self.json(await simulator.state.published(call))
    }

    static func sid(_ context: BasicRequestContext) -> String {
        context.parameters.get("sid").map { $0.hasSuffix(".json") ? String($0.dropLast(5)) : $0 } ?? ""
    }

    /// Twilio's paging: `PageSize` (50 by default, at most 1000) and `Page` with a `PageToken`,
    /// and a `next_page_uri` carrying the filters while more remain.
    static func page<Item>(of items: [Item], request: Request, path: String) -> ([Item], String?) {
        let query = request.uri.queryParameters
        let size = min(1000, max(1, query["PageSize"].flatMap { Int($0) } ?? 50))
        let number = max(0, query["Page"].flatMap { Int($0) } ?? 0)
        let start = min(items.count, number * size)
        let end = min(items.count, start + size)
        guard end < items.count else { return (Array(items[start..<end]), nil) }
        var next = FormParameters()
        for name in ["To", "From", "DateSent"] { next.append(name, query[Substring(name)].map(String.init)) }
        next.append("PageSize", String(size))
        next.append("Page", String(number + 1))
        next.append("PageToken", "PA\(end)")
        return (Array(items[start..<end]), path + "?" + next.encoded)
    }

    private func createCall(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, form) = try await authenticate(request, context, readForm: true)
        if let faulted = await injectedFault() { return faulted }
        switch await simulator.state.createCall(account: account, form: form, now: Date()) {
        case .failure(let error):
            return Self.json(error)
        case .success(let call):
            await scheduleCall(call, account: account, events: form.values("StatusCallbackEvent"))
            if simulator.configuration.faults.dropResponse > 0, await simulator.state.drawFault() == .dropResponse {
                try await Task.sleep(for: simulator.configuration.faults.dropHold)
            }
            return Self.json(call.resource, status: .created)
        }
    }

    private func inboundCall(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let form = FormParameters.decode(String(buffer: body)), let account = form["AccountSid"],
            simulator.configuration.accounts[account] != nil,
            let from = form["From"], let to = form["To"], let url = form["Url"]
        else {
            return Self.json(SimulatorState.error(21201, "AccountSid, From, To and Url are required", status: 400))
        }
        let call = await simulator.state.createInboundCall(
            account: account, from: from, to: to, url: url, statusCallback: form["StatusCallback"])
        await simulator.state.setCompletionCallback(sid: call.resource.sid, notify: form["StatusCallback"] != nil)
        simulator.schedule(
            .init(
                at: .now, account: account, sid: call.resource.sid,
                target: .call(status: "in-progress", duration: nil, notify: false)))
        return Self.json(call.resource, status: .created)
    }

    /// `DELETE Recordings/{sid}.json`: 204, or 404 (20404) for a recording it does not have.
    private func deleteRecording(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (account, _) = try await authenticate(request, context, readForm: false)
        var sid = context.parameters.get("sid") ?? ""
        if sid.hasSuffix(".json") { sid.removeLast(5) }
        guard await simulator.state.deleteRecording(sid: sid, account: account) else {
            return Self.json(SimulatorState.error(20404, "The requested resource was not found", status: 404))
        }
        return Response(status: .noContent)
    }

    // MARK: behaviour

    private func injectedFault() async -> Response? {
        let faults = simulator.configuration.faults
        if faults.latency > .zero { try? await Task.sleep(for: faults.latency) }
        guard faults.tooManyRequests > 0 || faults.serverError > 0 else { return nil }
        switch await simulator.state.drawFault() {
        case .tooManyRequests:
            await simulator.state.noteRejected()
            return Self.json(SimulatorState.error(20429, "Too Many Requests", status: 429))
        case .serverError:
            await simulator.state.noteRejected()
            return Self.json(SimulatorState.error(20500, "Internal Server Error", status: 500))
        case .dropResponse, nil:
            return nil
        }
    }

    private func scheduleStatuses(for message: SimulatedMessage, account: String) async {
        var at = message.sendAt
        for (status, code) in await simulator.state.plannedStatuses(for: message) {
            at += simulator.configuration.callbackStep
            simulator.schedule(
                .init(
                    at: at, account: account, sid: message.resource.sid,
                    target: .message(status: status, errorCode: code)))
        }
    }

    private func scheduleCall(_ call: SimulatedCall, account: String, events: [String]) async {
        let wanted = Set(events.isEmpty ? ["completed"] : events)
        // initiated, ringing, answered; the call completes when its TwiML has run (see TwilioSimulator).
        let sequence: [(status: String, event: String)] = [
            ("initiated", "initiated"), ("ringing", "ringing"), ("in-progress", "answered"),
        ]
        var at = ContinuousClock.now
        for step in sequence {
            at += simulator.configuration.callbackStep
            simulator.schedule(
                .init(
                    at: at, account: account, sid: call.resource.sid,
                    target: .call(status: step.status, duration: nil, notify: wanted.contains(step.event))))
        }
        await simulator.state.setCompletionCallback(sid: call.resource.sid, notify: wanted.contains("completed"))
    }

    /// HTTP Basic with an account SID and its auth token; the SID must match the URL's.
    /// Lookup v2 (`Fields=line_type_intelligence`): the number's carrier as configured. Not under
    /// an account's path: the Basic credentials name the account.
    private func lookup(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).flatMap({ String(data: $0, encoding: .utf8) }
            ),
            let colon = decoded.firstIndex(of: ":"),
            let token = simulator.configuration.accounts[String(decoded[..<colon])],
            ConstantTime.equals(token, String(decoded[decoded.index(after: colon)...]))
        else {
            throw SimulatorHTTPError(error: SimulatorState.error(20003, "Authenticate", status: 401))
        }
        let raw = context.parameters.get("number")?.removingPercentEncoding ?? ""
        guard let number = try? PhoneNumber(parsing: raw, field: "PhoneNumber") else {
            throw SimulatorHTTPError(
                error: SimulatorState.error(20404, "The requested resource was not found", status: 404))
        }
        let (carrier, _) = await simulator.state.carrier(of: number.e164)
        let wantsLineType = request.uri.queryParameters.get("Fields")?.contains("line_type_intelligence") == true
        let answer = LookupAnswer(
            phoneNumber: number.e164, valid: true, countryCode: number.countryCode == 1 ? "US" : nil,
            lineTypeIntelligence: wantsLineType
                ? .init(
                    carrierName: carrier.name, mobileCountryCode: carrier.mobileCountryCode,
                    mobileNetworkCode: carrier.mobileNetworkCode, type: carrier.lineType, errorCode: nil)
                : nil)
        await simulator.state.noteLookup()
        return Self.json(answer)
    }

    private func authenticate(
        _ request: Request, _ context: BasicRequestContext, readForm: Bool
    ) async throws -> (String, FormParameters) {
        let account = context.parameters.get("account") ?? ""
        guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).flatMap({ String(data: $0, encoding: .utf8) }
            ),
            let colon = decoded.firstIndex(of: ":")
        else {
            throw SimulatorHTTPError(error: SimulatorState.error(20003, "Authenticate", status: 401))
        }
        let user = String(decoded[..<colon])
        let secret = String(decoded[decoded.index(after: colon)...])
        guard user == account, let token = simulator.configuration.accounts[account],
            ConstantTime.equals(token, secret)
        else {
            throw SimulatorHTTPError(error: SimulatorState.error(20003, "Authenticate", status: 401))
        }
        guard readForm else { return (account, FormParameters()) }
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let form = FormParameters.decode(String(buffer: body)) else {
            throw SimulatorHTTPError(error: SimulatorState.error(20001, "Malformed form body", status: 400))
        }
        return (account, form)
    }

    static func json(_ error: TwilioAPIError) -> Response {
        let body: [String: JSONValue] = [
            "code": .int(Int64(error.code ?? 0)), "message": .string(error.message),
            "more_info": .string(error.moreInfo ?? ""), "status": .int(Int64(error.httpStatus)),
        ]
        return json(body, status: HTTPResponse.Status(code: error.httpStatus))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json", .init("Twilio-Request-Duration")!: "0.010"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An error answered in Twilio's JSON shape.
struct SimulatorHTTPError: HTTPResponseError {
    let error: TwilioAPIError
    var status: HTTPResponse.Status { HTTPResponse.Status(code: error.httpStatus) }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        SimulatorRoutes.json(error)
    }
}

/// One accepted message as `GET /_simulator/messages` reports it.
/// A call as `_simulator/calls` reports it: what was said, gathered, fetched, and any TwiML errors.
public struct SimulatorCallRecord: Codable, Sendable {
    public var sid: String
    public var to: String
    public var from: String?
    public var status: String
    public var events: [String]
}

public struct SimulatorRecord: Codable, Sendable {
    public var sid: String
    public var to: String
    public var from: String?
    public var body: String?
    public var status: String
    public var segments: Int
    /// Milliseconds after the simulator started.
    public var receivedMs: Double
    /// When it left its sender's queue for the carrier, in the same milliseconds.
    public var sentMs: Double
    /// The recipient's carrier (`att`, `tmobile`, `verizon`, `other`).
    public var carrier: String
    public var errorCode: Int?
}

/// Lookup v2's answer (written with snake_case keys, as Twilio writes it).
struct LookupAnswer: Encodable {
    var phoneNumber: String
    var valid: Bool
    var countryCode: String?
    var lineTypeIntelligence: LineType?

    struct LineType: Encodable {
        var carrierName: String
        var mobileCountryCode: String
        var mobileNetworkCode: String
        var type: String
        var errorCode: Int?
    }
}
