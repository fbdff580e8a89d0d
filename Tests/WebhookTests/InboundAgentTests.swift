import AsyncHTTPClient
import Foundation
import NIOCore
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWebhook
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// Issue 13: a caller reaches the agent bound to the number they called (its own binding, or its
/// pool's), on either transport, through two webhook hosts; the outcome lands in a job row like
/// an outbound agent call's. A number bound to nothing, or a caller the agent cannot take, hears
/// a polite goodbye, never an error.
@Suite struct InboundAgentTests {
    static let survey = try! JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))

    static func definition(transport: VoiceTransport, record: Bool = false) -> JSONValue {
        var fields: [String: JSONValue] = [
            "agentType": .string("questions"), "questions": survey, "transport": .string(transport.rawValue),
            "greeting": .string("Thanks for calling {{company}}."), "variables": .object(["company": .string("Acme")]),
        ]
        if record { fields["record"] = .bool(true) }
        return .object(fields)
    }

    @Test(arguments: [VoiceTransport.gather, .relay])
    func aCallerReachesTheBoundAgentAndTheOutcomeIsAJobResult(transport: VoiceTransport) async throws {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: db.pool, vault: vault)
            let accountID = try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            let ours = "+15557654399"
            let caller = "+15550009401"
            let agents = AgentStore(pool: db.pool)
            try await agents.save(
                account: "main", name: "survey", definition: Self.definition(transport: transport, record: true))
            if transport == .gather {
                try await agents.bind(account: "main", agent: "survey", to: .number(ours))
            } else {
                // Through its pool.
                let senders = SenderStore(pool: db.pool)
                let sender = try await senders.addSender(accountID: accountID, address: ours, kind: .longCode)
                try await senders.createPool(accountID: accountID, name: "helpline", senderIDs: [sender])
                try await agents.bind(account: "main", agent: "survey", to: .pool("helpline"))
            }
            let simulator = TwilioSimulator(
                configuration: scriptedSimulator([caller: [.speech("nine"), .speech("yes"), .speech("nothing really")]])
            )
            try await TwoWebhookHosts.with(db, accounts: accounts) { publicURL, proxy in
                let simulatorTask = try await simulator.start()
                defer { simulatorTask.stop() }
                // Someone dials our number; Twilio asks the number's voice URL.
                var request = HTTPClientRequest(url: simulator.baseURL! + "/_simulator/calls/inbound")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                let form: FormParameters = [
                    "AccountSid": accountSID, "From": caller, "To": ours,
                    "Url": publicURL + WebhookPaths.inboundCall, "StatusCallback": publicURL + WebhookPaths.callStatus,
                ]
                request.body = .bytes(ByteBuffer(string: form.encoded))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                #expect(response.status.code == 201)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        try await db.integer(
                            "SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended'") == 1
                    })
                #expect(proxy.servedPerBackend.reduce(0, +) >= 2)
                // Recorded from the answer: its recording reaches the job's result.
                #expect(
                    await eventually {
                        try await db.integer(
                            "SELECT count(*) FROM switchboard.all_jobs WHERE kind = 'inbound_call' AND result ? 'recordingUrl'"
                        )
                            == 1
                    })
            }
            let job = try await db.pool.query(
                "SELECT id, result::text FROM switchboard.all_jobs WHERE kind = 'inbound_call'")
            #expect(job.count == 1)
            let result = try JSONDecoder().decode(
                [String: JSONValue].self, from: Data((try job.first?.decode(String.self, at: 1) ?? "{}").utf8))
            #expect(result["direction"] == .string("inbound") && result["agent"] == .string("survey"))
            #expect(result["callerNumber"] == .string(caller) && result["calledNumber"] == .string(ours))
            #expect(result["satisfaction_rating"] == .string("9"), "\(result)")
            #expect(result["agentOutcome"] == .string("completed"))
            #expect((result["transcript"]?.arrayValue?.count ?? 0) >= 4)
            let call = try #require(await simulator.calls().first)
            #expect(call.direction == "inbound")
            let heard = call.transcript.compactMap { event -> String? in
                if case .said(let text) = event { return text }
                return nil
            }
            let tokens = call.tokens.map(\.token).joined()
            #expect(heard.contains("Thanks for calling Acme.") || tokens.contains("Thanks for calling Acme."))
            // The call's row is the inbound call's, updated by its status callback.
            let row = try await db.pool.query(
                "SELECT origin, from_address, to_address FROM switchboard.calls WHERE sid = \(call.resource.sid)")
            #expect(try row.first?.decode(String.self, at: 0) == "inbound")
            #expect(try row.first?.decode(String.self, at: 1) == caller)
        }
    }

    @Test func unboundNumbersAndUntakeableCallersHearAGoodbyeAndARepeatedRequestOpensNothingNew() async throws {
        try await WebhookHarness.with { hooks in
            let agents = AgentStore(pool: hooks.db.pool)
            try await agents.save(account: "main", name: "survey", definition: Self.definition(transport: .gather))
            try await agents.bind(account: "main", agent: "survey", to: .number("+14155550100"))
            let path = WebhookPaths.inboundCall
            func call(_ n: Int, from: String, to: String) -> FormParameters {
                ["CallSid": sid("CA", n), "AccountSid": accountSID, "From": from, "To": to, "CallStatus": "ringing"]
            }
            let unbound = try await hooks.post(path, call(1, from: "+15550001111", to: "+14155550199"))
            #expect(
                unbound.status == 200 && unbound.body.contains("no one can take your call")
                    && unbound.body.contains("<Hangup/>"))
            let anonymous = try await hooks.post(path, call(2, from: "anonymous", to: "+14155550100"))
            #expect(anonymous.status == 200 && anonymous.body.contains("cannot take your call right now"))
            #expect(try await hooks.post(path, ["AccountSid": accountSID, "From": "+1", "To": "+1"]).status == 400)
            let first = try await hooks.post(path, call(3, from: "+15550001111", to: "+14155550100"))
            #expect(first.status == 200 && first.body.contains("<Gather"), "\(first.body)")
            let again = try await hooks.post(path, call(3, from: "+15550001111", to: "+14155550100"))
            #expect(again.body == first.body, "Twilio's retry gets the same answer")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.voice_sessions") == 1)
            #expect(
                try await hooks.db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE kind = 'inbound_call'") == 1
            )
        }
    }

    @Test func definitionsAreCheckedWhenStored() throws {
        for (definition, field) in [
            (JSONValue.object(["agentType": .string("questions")]), "questions"),
            (
                .object(["agentType": .string("questions"), "questions": Self.survey, "to": .string("+15550001111")]),
                "to"
            ),
            (.object(["agentType": .string("llm"), "model": .string("gpt-4o-mini")]), "systemPrompt"),
            (
                .object(["agentType": .string("questions"), "questions": Self.survey, "variables": .string("x")]),
                "variables"
            ),
            (.string("hello"), "definition"),
        ] as [(JSONValue, String)] {
            let error = #expect(throws: InputError.self) { try AgentDefinition.check(definition, account: "main") }
            #expect(error?.field == field, "\(error?.description ?? "")")
        }
        try AgentDefinition.check(Self.definition(transport: .relay), account: "main")
    }
}
