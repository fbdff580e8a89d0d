import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore
import SwitchboardWebhook
import TestSupport
import Testing
import TwilioSimulator

/// Issue 13: an LLM agent calls tools within a call — a user's HTTP tool (a separate process that
/// checks the signature with the README's snippet) books an appointment, `send_sms` queues the
/// confirmation, and both are in the job's result and transcript; `transfer_call` dials the
/// declared number; the model's tool messages follow the chat-completions protocol (the fake
/// server refuses what the real one refuses).
@Suite struct AgentToolTests {
    static func llm(_ model: FakeOpenAI) -> LLMConfiguration {
        var llm = LLMConfiguration()
        llm.baseURL = model.baseURL
        llm.apiKey = LLMAgentTests.key
        return llm
    }

    func bookingAgent(to: String, toolURL: String, transport: VoiceTransport) throws -> VoiceAgentRequest {
        var request = try LLMAgentTests().request(to: to)
        request.transport = transport.rawValue
        request.systemPrompt = "You book appointments for {{company}}. Use your tools."
        request.tools = .array([
            .object([
                "type": .string("http"), "name": .string("book_appointment"),
                "description": .string("Book an appointment on a day"),
                "parameters": .object([
                    "type": .string("object"), "properties": .object(["day": .object(["type": .string("string")])]),
                    "required": .array([.string("day")]),
                ]),
                "url": .string(toolURL), "timeoutSeconds": .int(5),
            ]),
            .object(["type": .string("send_sms")]),
            .object(["type": .string("end_call")]),
        ])
        return request
    }

    @Test(arguments: [VoiceTransport.gather, .relay])
    func anAgentBooksThroughAnHTTPToolAndTextsAConfirmationWithinOneCall(transport: VoiceTransport) async throws {
        let secret = WebhookSecret()
        let port = try freeLoopbackPort()
        let receiver = try await EventReceiver(port: port, secrets: [secret.text])
        defer { receiver.kill() }
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: LLMAgentTests.key) { said, number in
            switch number {
            case 1: .toolCalls([("book_appointment", #"{"day":"Tuesday"}"#)], text: "Let me check.")
            case 2: .toolCalls([("send_sms", #"{"body":"Confirmed: Tuesday 10:00 at TechCorp."}"#)])
            case 3: .text("You're booked for Tuesday at 10. I've texted you a confirmation.")
            default: .text("Anything else? \(said)")
            }
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        let llm = Self.llm(model)
        let simulated = scriptedSimulator([
            "+15550009201": [.speech("I'd like an appointment on Tuesday"), .speech("Thanks, bye!")]
        ])
        let call = try bookingAgent(
            to: "+15550009201", toolURL: "http://127.0.0.1:\(port)/tool", transport: transport)
        try await LLMAgentTests.call(
            call, llm: llm, simulator: TwilioSimulator(configuration: simulated), toolSecret: secret
        ) { db, job, simulator, _ in
            // The caller heard the words said before the tools with the answer after them: one
            // `<Say>`, or the tokens of one streamed answer.
            let simulated = await simulator.calls().first
            let heard = (simulated?.transcript ?? []).compactMap {
                if case .said(let text) = $0 { return text }
                return nil
            }
            let answer = "Let me check. You're booked for Tuesday at 10. I've texted you a confirmation."
            if transport == .gather {
                #expect(heard.contains(answer), "\(heard)")
            } else {
                let tokens = (simulated?.tokens ?? []).map(\.token).joined()
                #expect(tokens.contains(answer), "\(tokens)")
            }
            // The tool process got one signed call with the model's arguments and the call's context.
            let lines = receiver.text.split(separator: "\n")
            #expect(lines.count == 1, "\(lines)")
            let line = try JSONDecoder().decode(JSONValue.self, from: Data((lines.first ?? "").utf8))
            #expect(line["verified"] == .bool(true))
            #expect(line["body"]?["arguments"]?["day"] == .string("Tuesday"))
            #expect(line["body"]?["tool"] == .string("book_appointment"))
            #expect(line["body"]?["jobId"] == .int(job) && line["body"]?["to"] == .string("+15550009201"))
            // The confirmation is an sms job to the caller, from the call's number.
            let sms = try await db.pool.query(
                "SELECT payload ->> 'to', payload ->> 'from', payload ->> 'body', idempotency_key FROM switchboard.all_jobs WHERE kind = 'sms'"
            )
            #expect(sms.count == 1)
            #expect(try sms.first?.decode(String.self, at: 0) == "+15550009201")
            #expect(try sms.first?.decode(String.self, at: 1) == "+15557654321")
            #expect(try sms.first?.decode(String.self, at: 2) == "Confirmed: Tuesday 10:00 at TechCorp.")
            #expect(try sms.first?.decode(String?.self, at: 3)?.hasPrefix("tool:") == true)
            // The model read the tool's answer as a `tool` message answering its call.
            let second = model.requests.count >= 2 ? model.requests[1] : [:]
            let toolMessage = second["messages"]?.arrayValue?.last
            #expect(toolMessage?["role"] == .string("tool") && toolMessage?["tool_call_id"] == .string("call_1_0"))
            #expect(toolMessage?["content"]?.stringValue?.contains("Tuesday 10:00") == true)
            #expect(second["tools"]?.arrayValue?.count == 3)
            // Calls and answers are in the result and, in order, in the transcript.
            let result = try await db.store.job(id: job)?.result?.decode([String: JSONValue].self) ?? [:]
            let uses = result["toolCalls"]?.arrayValue ?? []
            #expect(uses.map { $0["name"] } == [.string("book_appointment"), .string("send_sms")])
            #expect(uses.first?["arguments"]?["day"] == .string("Tuesday"))
            #expect(uses.first?["result"]?.stringValue?.contains("booked") == true)
            #expect(uses.last?["result"]?.stringValue?.contains("queued") == true)
            let speakers = (result["transcript"]?.arrayValue ?? []).compactMap { $0["speaker"]?.stringValue }
            #expect(
                speakers == ["agent", "caller", "agent", "tool", "tool", "agent", "caller", "agent"], "\(speakers)")
            #expect(result["agentOutcome"] == .string("caller_goodbye"))
        }
    }

    @Test(arguments: [VoiceTransport.gather, .relay])
    func transferCallDialsTheDeclaredNumberAndEndsTheSession(transport: VoiceTransport) async throws {
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: LLMAgentTests.key) { _, _ in
            .toolCalls([("transfer_call", #"{"reason":"wants a person"}"#)], text: "I'll put you through.")
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        let llm = Self.llm(model)
        let simulated = scriptedSimulator(["+15550009202": [.speech("Can I talk to a person?")]])
        var call = try LLMAgentTests().request(to: "+15550009202")
        call.transport = transport.rawValue
        call.tools = .array([.object(["type": .string("transfer_call"), "to": .string("+1 (555) 123-0000")])])
        try await LLMAgentTests.call(call, llm: llm, simulator: TwilioSimulator(configuration: simulated)) {
            db, job, simulator, _ in
            // The session ends as the transfer begins; the dial follows.
            #expect(
                await eventually {
                    (await simulator.calls().first?.transcript ?? []).contains(.dialed("+15551230000"))
                })
            let events = await simulator.calls().first?.transcript ?? []
            if transport == .gather {
                #expect(events.contains(.said("I'll put you through.")), "\(events)")
            } else {
                let tokens = (await simulator.calls().first?.tokens ?? []).map(\.token).joined()
                #expect(tokens.contains("I'll put you through."), "\(tokens)")
            }
            let result = try await db.store.job(id: job)?.result?.decode([String: JSONValue].self) ?? [:]
            #expect(result["agentOutcome"] == .string("transferred"))
        }
    }

    @Test(arguments: [
        (#"[{"type": "fax"}]"#, "tools[0].type"),
        (#"[{"type": "http", "description": "x", "url": "https://a.example/t"}]"#, "tools[0].name"),
        (#"[{"type": "http", "name": "go", "url": "https://a.example/t"}]"#, "tools[0].description"),
        (#"[{"type": "http", "name": "go", "description": "x", "url": "ftp://a"}]"#, "tools[0].url"),
        (
            #"[{"type": "http", "name": "go", "description": "x", "url": "https://a.example", "parameters": {"type": "string"}}]"#,
            "tools[0].parameters"
        ),
        (
            #"[{"type": "http", "name": "go", "description": "x", "url": "https://a.example", "timeoutSeconds": 60}]"#,
            "tools[0].timeoutSeconds"
        ),
        (#"[{"type": "http", "name": "end_call", "description": "x", "url": "https://a.example"}]"#, "tools[0].name"),
        (#"[{"type": "http", "name": "a b", "description": "x", "url": "https://a.example"}]"#, "tools[0].name"),
        (#"[{"type": "transfer_call"}]"#, "tools[0].to"),
        (#"[{"type": "transfer_call", "to": "+1555"}]"#, "tools[0].to"),
        (#"[{"type": "send_sms", "to": "+15551230000"}]"#, "tools[0].to"),
        (#"[{"type": "end_call", "url": "https://a.example"}]"#, "tools[0].url"),
        (#"[{"type": "end_call", "colour": "red"}]"#, "tools[0].colour"),
        (#"[{"type": "end_call"}, {"type": "end_call"}]"#, "tools[1].name"),
        (#"{"type": "end_call"}"#, "tools"),
    ])
    func badToolDeclarationsAreRefusedAtEnqueueNamingTheField(json: String, field: String) throws {
        var request = try LLMAgentTests().request(to: "+15550009203")
        request.tools = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        let error = #expect(throws: InputError.self) { _ = try request.resolve() }
        #expect(error?.field == field, "\(error?.description ?? "")")
    }

    @Test func aQuestionsAgentHasNoTools() throws {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var request = VoiceAgentRequest(account: "main", to: "+15550009204", from: "+15557654321", questions: questions)
        request.tools = .array([.object(["type": .string("end_call")])])
        let error = #expect(throws: InputError.self) { _ = try request.resolve() }
        #expect(error?.field == "tools")
    }
}
