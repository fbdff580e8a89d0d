import Foundation
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TwilioSimulator

/// The demo's campaign: realistic templates, a few recipients the simulator treats as failing,
/// and a few inputs that are refused at enqueue.
struct DemoScenario {
    static let accountSID = "AC" + String(repeating: "de30", count: 8)
    static let authToken = "demo-auth-token-not-a-secret"
    static let sender = "+15005550006"
    static let whatsappSender = "+14155238886"
    let recipients: Int

    /// Recipients with scripted outcomes.
    static let unreachable = "+15557770001"  // undelivered, 30003
    static let filtered = "+15557770002"  // failed, 30007
    static let optedOut = "+15005550004"  // Twilio answers 21610
    static let notMobile = "+15005550009"  // Twilio answers 21614
    /// Answers the voice-agent survey.
    static let surveyed = "+15557770100"

    var simulatorConfiguration: SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.accounts = [Self.accountSID: Self.authToken]
        configuration.callbackStep = .milliseconds(20)
        configuration.outcomes = [Self.unreachable: .undelivered(code: 30003), Self.filtered: .failed(code: 30007)]
        // Prices appear on the REST API a second after sending, as Twilio's do some time after.
        configuration.priceDelay = .seconds(1)
        configuration.callers[Self.surveyed] = [
            .speech("Hmm, I'd say nine"), .silence, .speech("Yeah, sure"), .speech("Faster shipping would be nice"),
        ]
        // A few throttled requests, so retries with backoff show up.
        configuration.faults.tooManyRequests = 0.03
        configuration.seed = 2026
        return configuration
    }

    var description: String {
        "\(recipients) order updates, appointment reminders and verification codes (SMS), 3 WhatsApp confirmations, "
            + "2 voice reminder calls, 1 voice-agent satisfaction survey"
    }

    static let names = ["Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Gustavo", "Hana", "Ivan", "Jun"]

    func recipient(_ n: Int) -> String {
        switch n {
        case 7: Self.unreachable
        case 11: Self.filtered
        case 13: Self.optedOut
        case 17: Self.notMobile
        default: "+1555" + String(format: "%07d", 2_000_000 + n)
        }
    }

    /// Queues the campaign; returns the job ids and the inputs refused at enqueue.
    func enqueue(store: JobStore) async throws -> ([Int64], [(String, String)]) {
        var ids: [Int64] = []
        for n in 0..<recipients {
            let name = Self.names[n % Self.names.count]
            let request: MessageRequest
            switch n % 3 {
            case 0:
                request = MessageRequest(
                    account: "demo", to: "{{customerPhone}}", from: Self.sender,
                    body: "Hi {{customerName}}! Your order #{{orderNumber}} has been {{orderStatus}}. "
                        + "{{#if trackingNumber}}Your tracking number is {{trackingNumber}}. {{/if}}Thank you for choosing us.",
                    variables: [
                        "customerPhone": .string(recipient(n)), "customerName": .string(name),
                        "orderNumber": .int(Int64(10_000 + n)),
                        "orderStatus": .string("shipped"),
                        "trackingNumber": n % 2 == 0 ? .string("1Z999AA1\(n)") : .null,
                    ])
            case 1:
                request = MessageRequest(
                    account: "demo", to: recipient(n), from: Self.sender,
                    body: "Hello {{name}}, this is a reminder about your appointment on {{date}} at {{time}}. "
                        + "Reply C to confirm or call {{supportNumber}} to reschedule.",
                    variables: [
                        "name": .string(name), "date": .string("Dec \(1 + n % 28)"), "time": .string("\(9 + n % 8):30"),
                        "supportNumber": .string("+1 (555) 010-0199"),
                    ])
            default:
                request = MessageRequest(
                    account: "demo", to: recipient(n), from: Self.sender,
                    body: "🔐 {{code}} is your verification code. It expires in 10 minutes. Don't share it with anyone.",
                    variables: ["code": .string(String(format: "%06d", (n * 7919) % 1_000_000))])
            }
            ids.append(try await SendJobs.enqueue(request, channel: .sms, store: store).id)
        }
        for n in 0..<3 {
            let request = MessageRequest(
                account: "demo", to: recipient(100 + n), from: Self.whatsappSender,
                body: "Hi {{name}}, your table for {{party}} on Friday is confirmed ✅",
                variables: ["name": .string(Self.names[n]), "party": .int(2 + Int64(n))])
            ids.append(try await SendJobs.enqueue(request, channel: .whatsapp, store: store).id)
        }
        for n in 0..<2 {
            var call = VoiceRequest(
                account: "demo", to: recipient(200 + n), from: Self.sender,
                message: "Hello {{name}}, this is a reminder about your appointment tomorrow at {{time}}. Goodbye.",
                variables: ["name": .string(Self.names[n]), "time": .string("10 AM")])
            call.voice = "alice"
            ids.append(try await SendJobs.enqueue(call, store: store).id)
        }
        let survey = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var agent = VoiceAgentRequest(
            account: "demo", to: Self.surveyed, from: Self.sender, questions: survey,
            variables: ["name": .string("Ana")])
        agent.greeting = "Hi {{name}}, this is Acme with a one-minute survey."
        ids.append(try await SendJobs.enqueue(agent, store: store).id)
        // Inputs a careless producer might send: refused before anything is written.
        var rejected: [(String, String)] = []
        let bad: [(String, MessageRequest)] = [
            (
                "missing variable",
                MessageRequest(account: "demo", to: "+15559990001", from: Self.sender, body: "Hi {{customerName}}!")
            ),
            ("invalid number", MessageRequest(account: "demo", to: "+1555", from: Self.sender, body: "Hi")),
            (
                "body too long",
                MessageRequest(
                    account: "demo", to: "+15559990001", from: Self.sender, body: String(repeating: "x", count: 1601))
            ),
        ]
        for (what, request) in bad {
            do {
                _ = try await SendJobs.enqueue(request, channel: .sms, store: store)
            } catch let error as InputError {
                rejected.append((what, error.description))
            }
        }
        return (ids, rejected)
    }
}
