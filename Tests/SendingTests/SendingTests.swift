import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing
import Twilio
import TwilioSimulator

@Suite struct SendingTests {
    @Test func sendsAnSMSEndToEnd() async throws {
        try await SendingHarness.with { harness, _ in
            let id = try await harness.sms(
                "{{customerPhone}}", "Hi {{customerName}}! Your order #{{orderNumber}} has shipped.",
                variables: [
                    "customerPhone": .string("+15559876543"), "customerName": .string("Ana"), "orderNumber": .int(1042),
                ])
            let job = try await harness.finished(id)
            #expect(job.state == .completed, "\(job.errors)")
            let result = try harness.result(job)
            #expect(result["messageSid"]?.stringValue?.hasPrefix("SM") == true)
            #expect(result["messageStatus"] == .string("queued"))
            #expect(result["recipientNumber"] == .string("+15559876543"))
            #expect(result["sentTimestamp"]?.stringValue?.hasSuffix("Z") == true)
            #expect(result["messageCost"] == .null)
            #expect(result["segments"] == .int(1))
            let accepted = await harness.simulator.messages()
            #expect(accepted.map(\.resource.body) == ["Hi Ana! Your order #1042 has shipped."])
            let rows = try await harness.deliveries.messages(jobID: id)
            #expect(rows.map(\.sid) == [result["messageSid"]?.stringValue ?? ""])
            #expect(rows.first?.origin == "created")
        }
    }

    @Test func whatsappAndVoice() async throws {
        try await SendingHarness.with { harness, _ in
            let whatsapp = try await SendJobs.enqueue(
                MessageRequest(
                    account: "main", to: "+15559876543", from: "+14155238886", body: "Your code is 123456 ✅"),
                channel: .whatsapp, store: harness.db.store)
            var voice = VoiceRequest(
                account: "main", to: "+15559876543", from: "+15557654321",
                message: "Hello {{name}}, your appointment is at 3 <PM> & on time.", variables: ["name": .string("Ana")]
            )
            voice.voice = "woman"
            let call = try await SendJobs.enqueue(voice, store: harness.db.store)
            let whatsappJob = try await harness.finished(whatsapp.id)
            #expect(whatsappJob.state == .completed)
            #expect(await harness.simulator.messages().first?.resource.to == "whatsapp:+15559876543")
            #expect(await harness.simulator.messages().first?.resource.from == "whatsapp:+14155238886")
            let callJob = try await harness.finished(call.id)
            #expect(callJob.state == .completed, "\(callJob.errors)")
            #expect(try harness.result(callJob)["callSid"]?.stringValue?.hasPrefix("CA") == true)
            let twiml = await harness.simulator.calls().first?.twiml ?? ""
            #expect(
                twiml.contains(
                    #"<Say voice="woman" language="en-US">Hello Ana, your appointment is at 3 &lt;PM&gt; &amp; on time.</Say>"#
                ))
        }
    }

    @Test func retriesAfter429And5xxUntilEveryMessageIsSentOnce() async throws {
        try await SendingHarness.with(simulator: {
            $0.faults.tooManyRequests = 0.4
            $0.faults.serverError = 0.2
            $0.seed = 7
        }) { harness, _ in
            var ids: [Int64] = []
            for n in 0..<20 {
                ids.append(try await harness.sms("+1555987\(String(format: "%04d", n))", "Message \(n)"))
            }
            for id in ids { #expect(try await harness.finished(id).state == .completed) }
            let accepted = await harness.simulator.messages()
            #expect(accepted.count == 20)
            #expect(Set(accepted.map(\.resource.to)).count == 20, "each recipient exactly once")
            #expect(await harness.simulator.rejectedRequests() > 0, "faults were injected")
            let retried = try await harness.db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE attempt > 1")
            #expect(retried > 0)
        }
    }

    @Test func aLostResponseNeverProducesASecondMessage() async throws {
        try await SendingHarness.with(
            simulator: {
                $0.faults.dropResponse = 1
                $0.faults.dropHold = .seconds(2)
            }, clientTimeout: .milliseconds(400)
        ) { harness, _ in
            let id = try await harness.sms("+15559876543", "Exactly once, please")
            let job = try await harness.finished(id)
            #expect(job.state == .completed, "\(job.errors)")
            #expect(job.errors.map(\.kind) == ["unknown_outcome"])
            #expect(await harness.simulator.messages().count == 1)
            let rows = try await harness.deliveries.messages(jobID: id)
            #expect(rows.map(\.origin) == ["reconciled"])
            #expect(try harness.result(job)["messageSid"]?.stringValue == rows.first?.sid)
        }
    }

    /// The lease fence: a worker sends only if Twilio's deadline ends before the lease it can
    /// vouch for (from its last claim or heartbeat) does; after that the job may be rescued and
    /// sent by another worker. Here the deadline (5 s) is longer than any lease left (a 4 s lease
    /// renewed every second leaves at most 4 s): nothing may be sent, and no attempt is used.
    @Test func aSendThatCouldOutlastItsLeaseIsNotStarted() async throws {
        try await SendingHarness.with(
            clientTimeout: .seconds(5),
            worker: {
                $0.lease = .seconds(4)
                $0.heartbeatInterval = .seconds(1)
            }
        ) { harness, _ in
            let id = try await harness.sms("+15559876543", "Not while the lease is in doubt")
            let fenced = await eventually(timeout: .seconds(15)) {
                let job = try await harness.db.store.job(id: id)
                return job?.attemptedAt != nil && job?.state == .available
            }
            #expect(fenced, "the job was claimed and given back")
            let job = try #require(try await harness.db.store.job(id: id))
            #expect(job.attempt == 0, "a fenced send uses no attempt")
            #expect(job.errors.isEmpty)
            #expect(await harness.simulator.messages().isEmpty)
        }
    }

    /// The message was sent and recorded, but the job's completion never reached the database
    /// (it restarted): the rescued job must recognise its own message, not send another.
    @Test func aRecordedMessageWhoseCompletionWasLostIsNotSentAgain() async throws {
        try await SendingHarness.with { harness, _ in
            let id = try await harness.sms("+15559876543", "Once, even across a database restart")
            #expect(try await harness.finished(id).state == .completed)
            // What a rescue leaves after a lost completion: the job due again, outcome unknown.
            try await harness.db.pool.query(
                """
                UPDATE switchboard.jobs SET state = 'available', outcome_unknown = true, run_at = now(),
                    finished_at = NULL, result = NULL WHERE id = \(id)
                """)
            let job = try await harness.finished(id)
            #expect(job.state == .completed, "\(job.errors)")
            #expect(await harness.simulator.messages().count == 1, "sent once")
            let rows = try await harness.deliveries.messages(jobID: id)
            #expect(rows.map(\.origin) == ["created"])
            #expect(try harness.result(job)["messageSid"]?.stringValue == rows.first?.sid)
        }
    }

    @Test func aLostCallResponseNeverPlacesASecondCall() async throws {
        try await SendingHarness.with(
            simulator: {
                $0.faults.dropResponse = 1
                $0.faults.dropHold = .seconds(2)
            }, clientTimeout: .milliseconds(400)
        ) { harness, _ in
            let call = try await SendJobs.enqueue(
                VoiceRequest(account: "main", to: "+15559876543", from: "+15557654321", message: "Once only"),
                store: harness.db.store)
            let job = try await harness.finished(call.id)
            #expect(job.state == .completed, "\(job.errors)")
            #expect(job.errors.map(\.kind) == ["unknown_outcome"])
            #expect(await harness.simulator.calls().count == 1)
            let origin = try await harness.db.pool.query("SELECT origin FROM switchboard.calls").firstRow().decode(
                String.self, at: 0)
            #expect(origin == "reconciled")
        }
    }

    @Test func permanentErrorsFailAtOnce() async throws {
        try await SendingHarness.with { harness, _ in
            let id = try await harness.sms("+15005550002", "unreachable")
            let job = try await harness.finished(id)
            #expect(job.state == .failed)
            #expect(job.attempt == 1)
            #expect(job.errors.first?.kind == "permanent")
            #expect(job.errors.first?.error.contains("twilio 21612") == true)
        }
    }

    @Test func anOptedOutRecipientIsSuppressedAndNeverSentToAgain() async throws {
        try await SendingHarness.with { harness, _ in
            let first = try await harness.finished(try await harness.sms("+15005550004", "first"))
            #expect(first.state == .failed)
            #expect(first.errors.first?.error.hasPrefix("opted_out:") == true)
            let account = try await harness.accounts.account(named: "main")!
            #expect(
                try await harness.deliveries.isSuppressed(
                    accountID: account.id, address: "+15005550004", sender: nil, pool: nil))
            let rejectedBefore = await harness.simulator.rejectedRequests()
            let second = try await harness.finished(try await harness.sms("+15005550004", "second"))
            #expect(second.state == .failed)
            #expect(second.errors.first?.error.hasPrefix("opted_out:") == true)
            #expect(await harness.simulator.rejectedRequests() == rejectedBefore, "Twilio was not called again")
            let source = try await harness.db.pool.query("SELECT source FROM switchboard.suppressions").firstRow()
                .decode(
                    String.self, at: 0)
            #expect(source == "twilio_error")
        }
    }

    @Test func badCredentialsFlagTheAccount() async throws {
        try await SendingHarness.with(token: "this-is-the-wrong-token") { harness, _ in
            let first = try await harness.finished(try await harness.sms("+15559876543", "x"))
            #expect(first.state == .failed)
            #expect(first.errors.first?.error.contains("20003") == true)
            #expect(try await harness.accounts.account(named: "main")?.flaggedAt != nil)
            let second = try await harness.finished(try await harness.sms("+15559876544", "y"))
            #expect(second.errors.first?.error.contains("flagged") == true)
        }
    }

    @Test func credentialsAreEncryptedAtRest() async throws {
        try await SendingHarness.with { harness, _ in
            let dump = try await harness.db.pool.query("SELECT t::text FROM switchboard.accounts t").firstRow().decode(
                String.self, at: 0)
            #expect(!dump.contains(authToken))
            #expect(!dump.contains(Data(authToken.utf8).map { String(format: "%02x", $0) }.joined()))
            let account = try #require(try await harness.accounts.account(named: "main"))
            #expect(try harness.accounts.secret(of: account) == authToken)
            let otherVault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification(id: "k1"))
            #expect(throws: CredentialVault.Failure.self) {
                try AccountStore(pool: harness.db.pool, vault: otherVault).secret(of: account)
            }
        }
    }
}

@Suite struct EnqueueValidationTests {
    @Test(arguments: [
        (#"{"account": "main", "to": "+1555", "from": "+15557654321", "body": "x"}"#, "to", "too short"),
        (
            #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "body": "Hi {{name}}"}"#, "body",
            "variable 'name' is missing"
        ),
        (#"{"account": "main", "to": "+15559876543", "from": "+15557654321"}"#, "body", "is required"),
        (#"{"account": "main", "to": "+15559876543", "body": "x"}"#, "from", "is required"),
        (
            #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "body": "x", "bodyy": 1}"#, "bodyy",
            "is not a field"
        ),
        (#"{"to": "+15559876543", "from": "+15557654321", "body": "x"}"#, "account", "is required"),
        (#"{"account": "main", "to": 15559876543, "from": "+15557654321", "body": "x"}"#, "to", "must be a string"),
        (
            #"{"account": "main", "to": "whatsapp:+15559876543", "from": "+15557654321", "body": "x"}"#, "to",
            "WhatsApp address"
        ),
    ])
    func smsPayloads(payload: String, field: String, problem: String) {
        let error = #expect(throws: InputError.self) { try SendJobs.validatedPayload(kind: "sms", payload: payload) }
        #expect(error?.field == field)
        #expect(error?.problem.contains(problem) == true, "\(error?.description ?? "no error")")
    }

    @Test func tooLongBodiesAndUnknownKinds() {
        let long = String(repeating: "a", count: 1601)
        let error = #expect(throws: InputError.self) {
            try SendJobs.validatedPayload(
                kind: "sms",
                payload: #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "body": "\#(long)"}"#)
        }
        #expect(error?.description == "body: 1601 characters is more than Twilio's limit of 1600")
        let kind = #expect(throws: InputError.self) { try SendJobs.validatedPayload(kind: "smss", payload: "{}") }
        #expect(kind?.field == "kind")
    }

    @Test(arguments: [
        (
            #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "message": "hi", "voice": "robot"}"#,
            "voice"
        ),
        (
            #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "message": "hi", "timeout": 0}"#,
            "timeout"
        ),
        (#"{"account": "main", "to": "+15559876543", "from": "+15557654321", "message": "  "}"#, "message"),
        (
            #"{"account": "main", "to": "+15559876543", "from": "+15557654321", "message": "hi", "language": "english!"}"#,
            "language"
        ),
    ])
    func voicePayloads(payload: String, field: String) {
        let error = #expect(throws: InputError.self) { try SendJobs.validatedPayload(kind: "voice", payload: payload) }
        #expect(error?.field == field, "\(error?.description ?? "no error")")
    }

    @Test func nothingIsWrittenWhenValidationFails() async throws {
        try await TestDatabase.with { db in
            await #expect(throws: InputError.self) {
                try await SendJobs.enqueue(
                    MessageRequest(account: "main", to: "+15559876543", from: "+15557654321", body: "Hi {{name}}"),
                    channel: .sms,
                    store: db.store)
            }
            let count = try await db.jobCount()
            #expect(count == 0)
        }
    }
}
