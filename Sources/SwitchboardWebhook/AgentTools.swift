import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore

/// Runs the tool calls an LLM agent's model asked for, within the turn's time, and says what each
/// came to. Built-ins: `end_call` and `transfer_call` only decide (the conversation acts on them),
/// `send_sms` queues an `sms` job to the caller (its idempotency key is the tool call's, so a
/// repeated turn does not text twice). An `http` tool is a POST signed like event deliveries
/// (`webhook-id` stable per tool call, for the tool's deduplication), whose answer the model reads.
struct AgentTools: Sendable {
    let http: HTTPClient
    /// Signs `http` tool calls; without one they are refused (the model hears so).
    let secret: WebhookSecret?
    let jobs: JobStore
    let logger: Logger

    /// At most this much of a tool's answer goes back to the model.
    static let answerLimit = 4000

    func run(
        _ calls: [ToolCall], tools: [AgentTool], session: VoiceSession, callSID: String,
        deadline: ContinuousClock.Instant
    ) async -> [ToolResult] {
        var results: [ToolResult] = []
        for call in calls {
            guard let tool = tools.first(where: { $0.name == call.name }) else {
                results.append(.failure(of: call, "there is no tool named \(call.name)"))
                continue
            }
            results.append(await run(call, tool, session: session, callSID: callSID, deadline: deadline))
        }
        return results
    }

    private func run(
        _ call: ToolCall, _ tool: AgentTool, session: VoiceSession, callSID: String, deadline: ContinuousClock.Instant
    ) async -> ToolResult {
        guard case .object(let arguments)? = try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))
        else { return .failure(of: call, "the arguments are not a JSON object") }
        switch tool.type {
        case .endCall:
            return .answer(to: call, "The call ends after your goodbye.", effect: .endCall)
        case .transferCall:
            guard let to = tool.to else { return .failure(of: call, "no number to transfer to") }
            return .answer(to: call, "The caller is being transferred.", effect: .transfer(to: to))
        case .sendSMS:
            return await sendSMS(arguments, tool, session: session, call: call)
        case .http:
            return await post(arguments, tool, session: session, callSID: callSID, call: call, deadline: deadline)
        }
    }

    private func sendSMS(
        _ arguments: [String: JSONValue], _ tool: AgentTool, session: VoiceSession, call: ToolCall
    ) async -> ToolResult {
        guard case .string(let body)? = arguments["body"], !body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            return .failure(of: call, "body is required (the text to send)")
        }
        do {
            _ = try Segments.validate(body)
            let payload: JSONValue = .object([
                "account": .string(session.spec.account), "to": .string(session.spec.to),
                "from": .string(tool.from ?? session.spec.from), "body": .string(body),
            ])
            var job = NewJob(kind: "sms", payload: PostgresJSON(text: payload.jsonText))
            job.idempotencyKey = "tool:\(session.id):\(call.id)".prefix(255).description
            let queued = try await jobs.enqueue(job)
            return .answer(to: call, "The text message is queued (job \(queued.id)).")
        } catch let error as InputError {
            return .failure(of: call, error.description)
        } catch {
            logger.warning("send_sms tool could not queue", metadata: ["error": "\(error)"])
            return .failure(of: call, "the message could not be queued")
        }
    }

    private func post(
        _ arguments: [String: JSONValue], _ tool: AgentTool, session: VoiceSession, callSID: String, call: ToolCall,
        deadline: ContinuousClock.Instant
    ) async -> ToolResult {
        func failed(_ problem: String) -> ToolResult { .failure(of: call, problem) }
        guard let secret, let url = tool.url else {
            logger.error("an http agent tool was called but SWITCHBOARD_TOOL_SECRET is not set")
            return failed("the tool is not available")
        }
        let body = Array(
            JSONValue.object([
                "tool": .string(tool.name), "arguments": .object(arguments), "sessionId": .int(session.id),
                "jobId": session.jobID.map { .int($0) } ?? .null, "callSid": .string(callSID),
                "to": .string(session.spec.to), "from": .string(session.spec.from),
            ]).jsonText.utf8)
        // The id is stable per tool call: a turn taken twice (two hosts, a retried webhook) repeats it.
        let request = EventSignature.post(
            url: url, id: "tool_\(session.id)_\(call.id)", body: body, secrets: [secret],
            timestamp: Int64(Date().timeIntervalSince1970), userAgent: "Switchboard-Tools/1")
        let limit = min(ContinuousClock.now + .seconds(tool.timeoutSeconds ?? 5), deadline)
        guard limit - .now > .milliseconds(100) else { return failed("no time left in this turn to call it") }
        do {
            let response = try await http.execute(request, deadline: NIODeadline.now() + TimeAmount(limit - .now))
            let answer = try await response.body.collect(upTo: 1 << 20)
            let text = String(decoding: answer.readableBytesView.prefix(Self.answerLimit), as: UTF8.self)
            guard (200..<300).contains(Int(response.status.code)) else {
                return failed("the tool answered HTTP \(response.status.code): \(text.prefix(200))")
            }
            return .answer(to: call, text.isEmpty ? "done" : text)
        } catch is NIOTooManyBytesError {
            return failed("the tool's answer was longer than 1 MiB")
        } catch {
            logger.warning(
                "agent tool did not answer", metadata: ["tool": "\(tool.name)", "error": "\(type(of: error))"])
            return failed("the tool did not answer in time")
        }
    }
}
