import Foundation
import SwitchboardCore
import Twilio

/// Everything the simulator has accepted, and the rules that decide what happens to it.
/// Validation follows Twilio's (twilio-facts.md §1–3), including the test magic numbers.
actor SimulatorState {
    let configuration: SimulatorConfiguration
    private var random: SeededGenerator
    private(set) var messages: [SimulatedMessage] = []
    private var messageIndex: [String: Int] = [:]
    private(set) var calls: [SimulatedCall] = []
    private(set) var rejectedRequests = 0
    private(set) var lookups = 0
    /// Per sender: when its queue is free again (throughput enforcement).
    private var senderFreeAt: [String: ContinuousClock.Instant] = [:]
    private var carrierMeters = CarrierMeters()

    init(configuration: SimulatorConfiguration) {
        self.configuration = configuration
        random = SeededGenerator(seed: configuration.seed)
    }

    enum Fault {
        case tooManyRequests, serverError, dropResponse
    }

    /// Decides whether this create request meets an injected fault.
    func drawFault() -> Fault? {
        let faults = configuration.faults
        if random.chance(faults.tooManyRequests) { return .tooManyRequests }
        if random.chance(faults.serverError) { return .serverError }
        if random.chance(faults.dropResponse) { return .dropResponse }
        return nil
    }

    func noteRejected() { rejectedRequests += 1 }
    func noteLookup() { lookups += 1 }

    // MARK: messages

    func createMessage(account: String, form: FormParameters, now date: Date) -> Result<
        SimulatedMessage, TwilioAPIError
    > {
        func fail(_ code: Int, _ message: String) -> Result<SimulatedMessage, TwilioAPIError> {
            rejectedRequests += 1
            return .failure(Self.error(code, message))
        }
        guard let to = form["To"], !to.isEmpty else { return fail(21604, "A 'To' phone number is required.") }
        let from = form["From"]
        let service = form["MessagingServiceSid"]
        guard from?.isEmpty == false || service?.isEmpty == false else {
            return fail(21603, "A 'From' phone number is required.")
        }
        let body = form["Body"] ?? ""
        let media = form.values("MediaUrl")
        guard !body.isEmpty || !media.isEmpty || form["ContentSid"] != nil else {
            return fail(service != nil && from == nil ? 21619 : 21602, "Message body is required.")
        }
        guard media.count <= 10 else { return fail(21623, "Number of media files exceeds allowed limit of 10.") }
        for url in media where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            return fail(21620, "Invalid media URL(s).")
        }
        if let from {
            switch from {
            case "+15005550001":
                return fail(
                    21212,
                    "The 'From' number \(from) is not a valid phone number, shortcode, or alphanumeric sender ID.")
            case "+15005550007":
                return fail(
                    21606,
                    "The 'From' phone number provided (\(from)) is not a valid message-capable Twilio phone number for this destination/account."
                )
            case "+15005550008":
                return fail(21611, "This 'From' number has exceeded the maximum number of queued messages.")
            default: break
            }
            if (try? ChannelAddress(parsing: from, field: "From")) == nil, !Self.isAlphanumericSender(from) {
                return fail(
                    21212,
                    "The 'From' number \(from) is not a valid phone number, shortcode, or alphanumeric sender ID.")
            }
        }
        guard let address = try? ChannelAddress(parsing: to, field: "To") else {
            return fail(21211, "The 'To' number \(to) is not a valid phone number.")
        }
        switch address.number.e164 {
        case "+15005550001": return fail(21211, "The 'To' number \(to) is not a valid phone number.")
        case "+15005550002":
            return fail(
                21612, "The 'To' phone number: \(to), is not currently reachable using the 'From' phone number via SMS."
            )
        case "+15005550003":
            return fail(
                21408,
                "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: \(to).")
        case "+15005550004": return fail(21610, "Attempt to send to unsubscribed recipient")
        case "+15005550009": return fail(21614, "'To' number is not a valid mobile number")
        default: break
        }
        let smart = form["SmartEncoded"] == "true"
        let count = Segments.count(body, smartEncoding: smart)
        guard count.characters <= Segments.maximumCharacters else {
            return fail(21617, "The concatenated message body exceeds the 1600 character limit.")
        }
        // Throughput: each sender sends `rate` segments per second; later messages queue.
        let now = ContinuousClock.now
        var sendAt = now
        var overflow = false
        if let sender = from, let rate = configuration.throughput[sender] ?? configuration.defaultThroughput, rate > 0 {
            sendAt = max(now, senderFreeAt[sender] ?? now)
            if sendAt - now > configuration.maxQueue {
                // Without a Messaging Service Twilio refuses at once; with one it accepts and the
                // message fails with 30001 (queue overflow).
                guard service != nil else {
                    return fail(21611, "This 'From' number has exceeded the maximum number of queued messages.")
                }
                overflow = true
                sendAt = now
            } else {
                senderFreeAt[sender] = sendAt + .milliseconds(Int64(Double(count.segments) / rate * 1000))
            }
        }
        // The carrier meters the message when it leaves the sender's queue.
        let carrier = carrier(of: address.number.e164)
        let overCap =
            overflow
            ? nil
            : carrierMeters.carry(
                carrier.kind, segments: count.segments, at: sendAt,
                date: date.addingTimeInterval((sendAt - now).seconds),
                limit: configuration.carrierLimits[carrier.kind])
        let sid = random.sid(media.isEmpty ? "SM" : "MM")
        let created = TwilioFormat.rfc2822(date)
        let resource = TwilioMessage(
            sid: sid, accountSid: account, to: to, from: from, messagingServiceSid: service, body: count.body,
            status: service != nil && from == nil ? "accepted" : "queued", numSegments: String(count.segments),
            numMedia: String(media.count), dateCreated: created, dateUpdated: created, dateSent: nil,
            uri: "/2010-04-01/Accounts/\(account)/Messages/\(sid).json")
        let message = SimulatedMessage(
            resource: resource, receivedAt: now, receivedAtDate: date, statusCallback: form["StatusCallback"],
            segments: count.segments,
            forcedOutcome: overflow ? .failed(code: 30001) : overCap.map { .failed(code: $0) }, sendAt: sendAt,
            carrier: carrier.kind)
        messageIndex[sid] = messages.count
        messages.append(message)
        return .success(message)
    }

    /// The carrier a number is on, as configured (or by its last digit).
    func carrier(of e164: String) -> (simulated: SimulatedCarrier, kind: Carrier) {
        let simulated = configuration.carriers[e164] ?? SimulatedCarrier.byLastDigit(e164)
        return (
            simulated,
            Carrier(
                carrierName: simulated.name, mobileCountryCode: simulated.mobileCountryCode,
                mobileNetworkCode: simulated.mobileNetworkCode)
        )
    }

    /// The statuses a message goes through after `queued`, by the outcome rules.
    func plannedStatuses(for message: SimulatedMessage) -> [(status: String, errorCode: Int?)] {
        let number =
            (try? ChannelAddress(parsing: message.resource.to, field: "To"))?.number.e164 ?? message.resource.to
        var outcome = message.forcedOutcome ?? configuration.outcomes[number]
        if outcome == nil, !configuration.randomOutcomes.isEmpty {
            var draw = Double(random.next() >> 11) / Double(1 << 53)
            for candidate in configuration.randomOutcomes {
                if draw < candidate.probability {
                    outcome = candidate.outcome
                    break
                }
                draw -= candidate.probability
            }
        }
        switch outcome ?? configuration.defaultOutcome {
        case .delivered: return [("sent", nil), ("delivered", nil)]
        case .undelivered(let code): return [("sent", nil), ("undelivered", code)]
        case .failed(let code): return [("failed", code)]
        }
    }

    /// Moves a message to `status` (as Twilio would) and returns the updated resource.
    func advance(sid: String, to status: String, errorCode: Int?, now: Date) -> SimulatedMessage? {
        guard let index = messageIndex[sid] else { return nil }
        messages[index].resource.status = status
        messages[index].resource.dateUpdated = TwilioFormat.rfc2822(now)
        if status == "sent" {
            messages[index].resource.dateSent = TwilioFormat.rfc2822(now)
            messages[index].price = String(format: "-%.5f", 0.0079 * Double(messages[index].segments))
            messages[index].priceVisibleAt = now.addingTimeInterval(configuration.priceDelay.seconds)
        } else if status == "failed", messages[index].price == nil, let fee = configuration.failedMessagePrice {
            messages[index].price = fee
            messages[index].priceVisibleAt = now.addingTimeInterval(configuration.priceDelay.seconds)
        }
        if let errorCode {
            messages[index].resource.errorCode = errorCode
            messages[index].resource.errorMessage = TwilioErrorClassification.summary(forCode: errorCode)
        }
        return messages[index]
    }

    func recordCallback(sid: String, status: String) {
        if let index = messageIndex[sid] {
            messages[index].callbacks.append(status)
        } else if let index = calls.firstIndex(where: { $0.resource.sid == sid }) {
            calls[index].callbacks.append(status)
        }
    }

    func message(sid: String) -> SimulatedMessage? {
        messageIndex[sid].map { messages[$0] }
    }

    /// The message as the REST API shows it at `now`: its price only once published.
    func published(_ message: SimulatedMessage, now: Date = Date()) -> TwilioMessage {
        var resource = message.resource
        resource.price = message.priceVisibleAt.map { now >= $0 } == true ? message.price : nil
        return resource
    }

    func published(_ call: SimulatedCall, now: Date = Date()) -> TwilioCall {
        var resource = call.resource
        resource.price = call.priceVisibleAt.map { now >= $0 } == true ? call.price : nil
        return resource
    }

    private(set) var restReads = 0
    private(set) var listReads = 0
    func noteRead(list: Bool = false) {
        restReads += 1
        if list { listReads += 1 }
    }

    /// `GET Messages.json` filters (To, From, DateSent as YYYY-MM-DD), newest first.
    func listMessages(account: String, to: String?, from: String?, dateSent: String?) -> [TwilioMessage] {
        let now = Date()
        return messages.reversed().filter { simulated in
            let message = simulated.resource
            return message.accountSid == account && (to == nil || message.to == to)
                && (from == nil || message.from == from)
                && (dateSent == nil || Self.matchesDay(message.dateSent, dateSent!))
        }.map { published($0, now: now) }
    }

    // MARK: calls

    func createCall(account: String, form: FormParameters, now: Date) -> Result<SimulatedCall, TwilioAPIError> {
        func fail(_ code: Int, _ message: String) -> Result<SimulatedCall, TwilioAPIError> {
            rejectedRequests += 1
            return .failure(Self.error(code, message))
        }
        guard let to = form["To"], !to.isEmpty else { return fail(21201, "No 'To' number is specified") }
        guard let from = form["From"], !from.isEmpty else { return fail(21213, "No 'From' number is specified") }
        guard form["Url"] != nil || form["Twiml"] != nil || form["ApplicationSid"] != nil else {
            return fail(21205, "Url parameter is required.")
        }
        if let twiml = form["Twiml"], twiml.count > 4000 { return fail(21232, "Twiml exceeds 4000 characters.") }
        if from == "+15005550001" { return fail(21212, "The caller ID \(from) is not valid.") }
        guard (try? PhoneNumber(parsing: from, field: "From")) != nil else {
            return fail(21212, "The caller ID \(from) is not valid.")
        }
        guard let number = try? PhoneNumber(parsing: to, field: "To") else {
            return fail(21217, "Phone number \(to) does not appear to be valid")
        }
        switch number.e164 {
        case "+15005550001": return fail(21217, "Phone number \(to) does not appear to be valid")
        case "+15005550002": return fail(21214, "'To' phone number cannot be reached")
        case "+15005550003": return fail(21215, "Geo permission configuration is not permitting call")
        case "+15005550004": return fail(21216, "Call blocked by Twilio blocklist")
        default: break
        }
        let sid = random.sid("CA")
        let resource = TwilioCall(
            sid: sid, accountSid: account, to: to, from: from, status: "queued", dateCreated: TwilioFormat.rfc2822(now),
            uri: "/2010-04-01/Accounts/\(account)/Calls/\(sid).json")
        var call = SimulatedCall(
            resource: resource, receivedAt: .now, twiml: form["Twiml"], url: form["Url"],
            statusCallback: form["StatusCallback"])
        call.record = form["Record"] == "true"
        call.recordingChannels = form["RecordingChannels"]
        call.recordingStatusCallback = form["RecordingStatusCallback"]
        calls.append(call)
        return .success(call)
    }

    /// Someone calls `to` (one of the account's numbers) from `from`: Twilio fetches the number's
    /// voice `url` and plays what it answers, with `from` as the scripted caller.
    func createInboundCall(account: String, from: String, to: String, url: String, statusCallback: String?)
        -> SimulatedCall
    {
        let sid = random.sid("CA")
        let resource = TwilioCall(
            sid: sid, accountSid: account, to: to, from: from, status: "ringing",
            dateCreated: TwilioFormat.rfc2822(Date()), uri: "/2010-04-01/Accounts/\(account)/Calls/\(sid).json")
        var call = SimulatedCall(
            resource: resource, receivedAt: .now, twiml: nil, url: url, statusCallback: statusCallback)
        call.direction = "inbound"
        calls.append(call)
        return call
    }

    private(set) var recordings: [SimulatedRecording] = []

    /// `<Start><Recording>` on a call.
    func startRecording(sid: String, callback: String?, channels: String?) {
        guard let index = calls.firstIndex(where: { $0.resource.sid == sid }) else { return }
        calls[index].record = true
        calls[index].recordingStatusCallback = callback
        calls[index].recordingChannels = channels
    }

    /// The recording of a recorded call that has ended.
    func makeRecording(of call: SimulatedCall, duration: Int) -> SimulatedRecording {
        let recording = SimulatedRecording(
            sid: random.sid("RE"), account: call.resource.accountSid ?? "", callSID: call.resource.sid,
            duration: duration, channels: call.recordingChannels == "dual" ? 2 : 1)
        recordings.append(recording)
        return recording
    }

    /// `DELETE Recordings/{sid}`: whether there was such a recording to delete.
    func deleteRecording(sid: String, account: String) -> Bool {
        guard let index = recordings.firstIndex(where: { $0.sid == sid && $0.account == account && !$0.deleted })
        else { return false }
        recordings[index].deleted = true
        return true
    }

    private var answersGiven: [String: Int] = [:]
    private var notifyCompletion: Set<String> = []

    func setCompletionCallback(sid: String, notify: Bool) {
        if notify { notifyCompletion.insert(sid) }
    }

    func wantsCompletionCallback(sid: String) -> Bool { notifyCompletion.contains(sid) }

    /// The scripted caller's next answer on calls to `number` (silence when the script ran out).
    func nextAnswer(for number: String) -> SimulatorConfiguration.CallerAnswer {
        let script = configuration.callers[number] ?? []
        let index = answersGiven[number, default: 0]
        answersGiven[number] = index + 1
        return index < script.count ? script[index] : .silence
    }

    /// The caller's next answer, without taking it.
    func peekAnswer(for number: String) -> SimulatorConfiguration.CallerAnswer {
        let script = configuration.callers[number] ?? []
        let index = answersGiven[number, default: 0]
        return index < script.count ? script[index] : .silence
    }

    func appendToken(sid: String, _ token: ReceivedToken) {
        if let index = calls.firstIndex(where: { $0.resource.sid == sid }) { calls[index].tokens.append(token) }
    }

    /// The caller's last answer was never heard (the socket carrying it ended before the agent
    /// answered): the caller says it again when asked again.
    func repeatLastAnswer(for number: String) {
        if let given = answersGiven[number], given > 0 { answersGiven[number] = given - 1 }
    }

    func appendEvent(sid: String, _ event: CallEvent) {
        if let index = calls.firstIndex(where: { $0.resource.sid == sid }) { calls[index].transcript.append(event) }
    }

    func call(sid: String) -> SimulatedCall? {
        calls.first { $0.resource.sid == sid }
    }

    /// `GET Calls.json` filters (To, From), newest first.
    func listCalls(account: String, to: String?, from: String?) -> [TwilioCall] {
        let now = Date()
        return calls.reversed().filter { simulated in
            let call = simulated.resource
            return call.accountSid == account && (to == nil || call.to == to) && (from == nil || call.from == from)
        }.map { published($0, now: now) }
    }

    func advanceCall(sid: String, to status: String, duration: Int?) -> SimulatedCall? {
        guard let index = calls.firstIndex(where: { $0.resource.sid == sid }) else { return nil }
        calls[index].resource.status = status
        if let duration { calls[index].resource.duration = String(duration) }
        // A completed call is charged per started minute; one nobody answered costs nothing.
        if status == "completed", calls[index].price == nil {
            let minutes = max(1, ((duration ?? 0) + 59) / 60)
            calls[index].price = String(format: "-%.5f", 0.014 * Double(minutes))
            calls[index].priceVisibleAt = Date().addingTimeInterval(configuration.priceDelay.seconds)
        }
        return calls[index]
    }

    // MARK: helpers

    static func error(_ code: Int, _ message: String, status: Int = 400) -> TwilioAPIError {
        TwilioAPIError(
            httpStatus: status, code: code, message: message, moreInfo: "https://www.twilio.com/docs/errors/\(code)")
    }

    static func isAlphanumericSender(_ from: String) -> Bool {
        (1...11).contains(from.count) && from.contains(where: \.isLetter)
            && from.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == " ") }
    }

    /// Twilio's `DateSent=YYYY-MM-DD` against an RFC 2822 date.
    static func matchesDay(_ rfc2822: String?, _ day: String) -> Bool {
        guard let rfc2822 else { return false }
        let parts = day.split(separator: "-")
        guard parts.count == 3, let month = Int(parts[1]), (1...12).contains(month) else { return false }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return rfc2822.contains("\(parts[2]) \(months[month - 1]) \(parts[0])")
    }
}
