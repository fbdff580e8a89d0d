import AsyncHTTPClient
import Foundation
import Hummingbird
import SwitchboardCore
import TestSupport
import Testing
import Twilio
import TwilioSimulator

let accountSID = "AC" + String(repeating: "0123456789abcdef", count: 2)
let authToken = "simulator-test-token"
let credentials = TwilioCredentials(accountSID: accountSID, authToken: authToken)

/// Runs a simulator on a free loopback port for the duration of `body`.
func withSimulator<T: Sendable>(
    configure: (inout SimulatorConfiguration) -> Void = { _ in },
    _ body: (TwilioSimulator, TwilioClient) async throws -> T
) async throws -> T {
    var configuration = SimulatorConfiguration()
    configuration.accounts = [accountSID: authToken]
    configure(&configuration)
    let simulator = TwilioSimulator(configuration: configuration)
    let task = try await simulator.start()
    defer { task.stop() }
    let client = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(5)))
    return try await body(simulator, client)
}

/// Serves `router` on a free loopback port (written to `port` once listening) until the
/// returned task is cancelled.
func serveOnLoopback(_ router: Router<BasicRequestContext>, port: Locked<Int?>) async throws -> ServiceTask {
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
    let task = ServiceTask(app, logger: testLogger("test.loopback"))
    _ = await eventually { port.value != nil }
    return task
}

/// A loopback HTTP server that records the status callbacks it receives.
final class CallbackReceiver: Sendable {
    let received = Locked([(signature: String, form: FormParameters, path: String)]())
    let port = Locked<Int?>(nil)

    func start() async throws -> ServiceTask {
        let router = Router()
        router.post("callbacks/:name") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            let form = FormParameters.decode(String(buffer: body)) ?? FormParameters()
            self.received.withLock {
                $0.append((request.headers[.init("X-Twilio-Signature")!] ?? "", form, request.uri.path))
            }
            return .ok
        }
        return try await serveOnLoopback(router, port: port)
    }

    var baseURL: String { "http://127.0.0.1:\(port.value!)" }
}

@Suite struct SimulatorTests {
    @Test func createsAMessageShapedLikeTwilios() async throws {
        try await withSimulator { simulator, client in
            var request = CreateMessageRequest(
                to: "+15551230001", from: "+15557654321", body: "Hi Ana! Your order #1042 has shipped. 📦")
            request.validityPeriod = 600
            let (message, info) = try await client.createMessage(request, credentials: credentials)
            #expect(message.sid.hasPrefix("SM"))
            #expect(message.sid.count == 34)
            #expect(message.status == "queued")
            #expect(message.numSegments == "1")
            #expect(message.to == "+15551230001")
            #expect(message.dateCreated?.hasSuffix("+0000") == true)
            #expect(info.httpStatus == 201)
            #expect(info.requestDuration != nil)
            let accepted = await simulator.messages()
            #expect(accepted.map(\.resource.sid) == [message.sid])
        }
    }

    @Test func refusesBadCredentials() async throws {
        try await withSimulator { _, client in
            let wrong = TwilioCredentials(accountSID: accountSID, authToken: "wrong")
            await #expect {
                try await client.createMessage(
                    .init(to: "+15551230001", from: "+15557654321", body: "x"), credentials: wrong)
            } throws: { error in
                guard case .api(let api) = error as? TwilioClient.Failure else { return false }
                return api.code == 20003 && api.httpStatus == 401
            }
        }
    }

    @Test(arguments: [
        (CreateMessageRequest(to: "", from: "+15557654321", body: "x"), 21604),
        (CreateMessageRequest(to: "+15551230001", body: "x"), 21603),
        (CreateMessageRequest(to: "+15551230001", from: "+15557654321"), 21602),
        (CreateMessageRequest(to: "12345", from: "+15557654321", body: "x"), 21211),
        (CreateMessageRequest(to: "+15551230001", from: "+15005550001", body: "x"), 21212),
        (CreateMessageRequest(to: "+15551230001", from: "+15005550007", body: "x"), 21606),
        (CreateMessageRequest(to: "+15005550001", from: "+15557654321", body: "x"), 21211),
        (CreateMessageRequest(to: "+15005550002", from: "+15557654321", body: "x"), 21612),
        (CreateMessageRequest(to: "+15005550003", from: "+15557654321", body: "x"), 21408),
        (CreateMessageRequest(to: "+15005550004", from: "+15557654321", body: "x"), 21610),
        (CreateMessageRequest(to: "+15005550009", from: "+15557654321", body: "x"), 21614),
        (
            CreateMessageRequest(to: "+15551230001", from: "+15557654321", body: String(repeating: "a", count: 1601)),
            21617
        ),
    ])
    func validatesLikeTwilio(request: CreateMessageRequest, code: Int) async throws {
        try await withSimulator { simulator, client in
            do {
                _ = try await client.createMessage(request, credentials: credentials)
                Issue.record("expected error \(code)")
            } catch {
                guard case .api(let api)? = error as? TwilioClient.Failure else {
                    Issue.record("unexpected \(error)"); return
                }
                #expect(api.code == code)
                #expect(api.httpStatus == 400)
                #expect(api.moreInfo == "https://www.twilio.com/docs/errors/\(code)")
            }
            #expect(await simulator.messages().isEmpty)
        }
    }

    @Test func postsSignedStatusCallbacksInOrder() async throws {
        let receiver = CallbackReceiver()
        let server = try await receiver.start()
        defer { server.stop() }
        try await withSimulator(configure: { $0.outcomes["+15551230002"] = .undelivered(code: 30003) }) {
            simulator, client in
            var good = CreateMessageRequest(to: "+15551230001", from: "+15557654321", body: "one")
            good.statusCallback = receiver.baseURL + "/callbacks/good"
            var bad = CreateMessageRequest(to: "+15551230002", from: "+15557654321", body: "two")
            bad.statusCallback = receiver.baseURL + "/callbacks/bad"
            _ = try await client.createMessage(good, credentials: credentials)
            _ = try await client.createMessage(bad, credentials: credentials)
            #expect(await eventually { receiver.received.value.count == 4 })
            let callbacks = receiver.received.value
            let goodStatuses = callbacks.filter { $0.path.hasSuffix("good") }.map { $0.form["MessageStatus"] ?? "" }
            #expect(goodStatuses == ["sent", "delivered"])
            let badOnes = callbacks.filter { $0.path.hasSuffix("bad") }
            #expect(badOnes.map { $0.form["MessageStatus"] ?? "" } == ["sent", "undelivered"])
            #expect(badOnes.last?.form["ErrorCode"] == "30003")
            for callback in callbacks {
                let url = receiver.baseURL + callback.path
                #expect(
                    TwilioSignature.isValid(
                        signature: callback.signature, url: url, parameters: callback.form, authToken: authToken))
            }
            let list = try await client.listMessages(
                to: "+15551230001", from: nil, dateSent: Date(), credentials: credentials)
            #expect(list.map(\.body) == ["one"])
            #expect(list.first?.status == "delivered")
            #expect(list.first?.price != nil)
        }
    }

    @Test func injectedTooManyRequestsIsRetryable() async throws {
        try await withSimulator(configure: { $0.faults.tooManyRequests = 1 }) { simulator, client in
            do {
                _ = try await client.createMessage(
                    .init(to: "+15551230001", from: "+15557654321", body: "x"), credentials: credentials)
                Issue.record("expected 429")
            } catch {
                guard case .api(let api)? = error as? TwilioClient.Failure else {
                    Issue.record("unexpected \(error)"); return
                }
                #expect(api.httpStatus == 429)
                #expect(TwilioErrorClassification.action(forHTTPStatus: api.httpStatus, code: api.code) == .retry)
            }
            #expect(await simulator.messages().isEmpty)
        }
    }

    @Test func aDroppedResponseLeavesTheOutcomeUnknownButTheMessageExists() async throws {
        try await withSimulator(configure: {
            $0.faults.dropResponse = 1
            $0.faults.dropHold = .seconds(3)
        }) { simulator, _ in
            let impatient = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .milliseconds(500)))
            do {
                _ = try await impatient.createMessage(
                    .init(to: "+15551230001", from: "+15557654321", body: "x"), credentials: credentials)
                Issue.record("expected a timeout")
            } catch {
                guard case .transport(_, let processed)? = error as? TwilioClient.Failure else {
                    Issue.record("unexpected \(error)"); return
                }
                #expect(processed)
            }
            #expect(await simulator.messages().count == 1)
        }
    }

    @Test func sendersAreThrottledToTheirThroughput() async throws {
        try await withSimulator(configure: {
            // Ten seconds a segment, so the refusals do not depend on how fast a busy machine
            // sends the six requests: they would have to take five seconds to free a slot.
            $0.throughput["+15557654321"] = 0.1
            $0.maxQueue = .seconds(35)
        }) { simulator, client in
            var codes: [Int?] = []
            for n in 0..<6 {
                do {
                    _ = try await client.createMessage(
                        .init(to: "+1555123000\(n)", from: "+15557654321", body: "m\(n)"), credentials: credentials)
                    codes.append(nil)
                } catch {
                    guard case .api(let api)? = error as? TwilioClient.Failure else { throw error }
                    codes.append(api.code)
                }
            }
            // Slots at 0, 10, 20, 30 s fit in a 35 s queue; the rest are refused like Twilio's 21611.
            #expect(codes == [nil, nil, nil, nil, 21611, 21611])
            let accepted = await simulator.messages()
            let offsets = accepted.map { ($0.sendAt - accepted[0].sendAt).seconds }
            for (index, offset) in offsets.enumerated() { #expect(abs(offset - Double(index) * 10) < 0.01) }
            // An unthrottled sender is not delayed.
            _ = try await client.createMessage(
                .init(to: "+15551230099", from: "+15550000001", body: "x"), credentials: credentials)
            let last = await simulator.messages().last!
            #expect(last.sendAt == last.receivedAt)
        }
    }

    @Test func randomOutcomesAreRepeatableWithASeed() async throws {
        func undeliveredRecipients() async throws -> [String] {
            try await withSimulator(configure: {
                $0.randomOutcomes = [(.undelivered(code: 30003), 0.3)]
                $0.seed = 99
                $0.callbackStep = .milliseconds(5)
            }) { simulator, client in
                for n in 0..<40 {
                    _ = try await client.createMessage(
                        .init(to: "+155512300\(String(format: "%02d", n))", from: "+15557654321", body: "m"),
                        credentials: credentials)
                }
                _ = await eventually {
                    await simulator.messages().allSatisfy { ["delivered", "undelivered"].contains($0.resource.status) }
                }
                return await simulator.messages().filter { $0.resource.status == "undelivered" }.map(\.resource.to)
            }
        }
        let first = try await undeliveredRecipients()
        let second = try await undeliveredRecipients()
        #expect(first == second)
        #expect((4...20).contains(first.count), "about 30% of 40, got \(first.count)")
    }

    @Test func aMessagingServiceOverflowFailsLaterWith30001() async throws {
        try await withSimulator(configure: {
            $0.throughput["+15557654321"] = 1
            $0.maxQueue = .milliseconds(500)
        }) { simulator, client in
            let service = "MG" + String(repeating: "ab", count: 16)
            for n in 0..<3 {
                var request = CreateMessageRequest(to: "+1555123000\(n)", from: "+15557654321", body: "m")
                request.messagingServiceSID = service
                _ = try await client.createMessage(request, credentials: credentials)
            }
            #expect(await eventually { await simulator.messages().last?.resource.status == "failed" })
            #expect(await simulator.messages().last?.resource.errorCode == 30001)
        }
    }

    @Test func callsProgressToCompleted() async throws {
        let receiver = CallbackReceiver()
        let server = try await receiver.start()
        defer { server.stop() }
        try await withSimulator { simulator, client in
            var request = CreateCallRequest(
                to: "+15551230001", from: "+15557654321", twiml: "<Response><Say>Hello</Say></Response>")
            request.statusCallback = receiver.baseURL + "/callbacks/call"
            request.statusCallbackEvents = ["initiated", "answered", "completed"]
            let (call, _) = try await client.createCall(request, credentials: credentials)
            #expect(call.sid.hasPrefix("CA"))
            #expect(call.status == "queued")
            #expect(await eventually { receiver.received.value.count == 3 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(
                receiver.received.value.map { $0.form["CallStatus"] ?? "" } == [
                    "initiated", "in-progress", "completed",
                ])
            #expect(await simulator.calls().first?.twiml == "<Response><Say>Hello</Say></Response>")
            await #expect(throws: TwilioClient.Failure.self) {
                try await client.createCall(
                    .init(to: "+15005550002", from: "+15557654321", twiml: "<Response/>"), credentials: credentials)
            }
        }
    }
}

@Suite struct TransportFailureTests {
    @Test func aRefusedConnectionIsKnownNotToHaveBeenSent() async throws {
        // A loopback port nobody listens on: the request never leaves, so a retry cannot duplicate it.
        let port = try freeLoopbackPort()
        let client = TwilioClient(
            configuration: .init(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(1)))
        do {
            _ = try await client.createMessage(
                .init(to: "+15551230001", from: "+15557654321", body: "x"), credentials: credentials)
            Issue.record("expected a transport failure")
        } catch {
            guard case .transport(let message, let processed) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(!processed, "\(message)")
        }
    }
}
