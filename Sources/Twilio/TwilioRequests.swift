/// Parameters of `POST …/Messages.json` (see twilio-facts.md §1.2).
public struct CreateMessageRequest: Sendable, Equatable {
    public var to: String
    public var from: String?
    public var messagingServiceSID: String?
    public var body: String?
    public var mediaURLs: [String] = []
    public var statusCallback: String?
    public var contentSID: String?
    /// A JSON string of template variables (needs `contentSID`).
    public var contentVariables: String?
    /// Seconds, 1…36000.
    public var validityPeriod: Int?
    public var smartEncoded: Bool?

    public init(to: String, from: String? = nil, messagingServiceSID: String? = nil, body: String? = nil) {
        self.to = to
        self.from = from
        self.messagingServiceSID = messagingServiceSID
        self.body = body
    }

    public var form: FormParameters {
        var form = FormParameters()
        form.append("To", to)
        form.append("From", from)
        form.append("MessagingServiceSid", messagingServiceSID)
        form.append("Body", body)
        for url in mediaURLs { form.append("MediaUrl", url) }
        form.append("StatusCallback", statusCallback)
        form.append("ContentSid", contentSID)
        form.append("ContentVariables", contentVariables)
        form.append("ValidityPeriod", validityPeriod.map(String.init))
        form.append("SmartEncoded", smartEncoded.map { $0 ? "true" : "false" })
        return form
    }
}

/// Parameters of `POST …/Calls.json` (see twilio-facts.md §1.3).
public struct CreateCallRequest: Sendable, Equatable {
    public var to: String
    public var from: String
    /// Where Twilio fetches TwiML when the call connects; or give `twiml` inline.
    public var url: String?
    public var twiml: String?
    public var statusCallback: String?
    public var statusCallbackEvents: [String] = []
    /// Ring seconds (default 60, max 600).
    public var timeout: Int?
    public var record: Bool?
    /// `mono` or `dual`.
    public var recordingChannels: String?
    /// Where Twilio posts the recording's status (`completed`, `absent`, `failed`).
    public var recordingStatusCallback: String?
    public var timeLimit: Int?
    /// `Enable` or `DetectMessageEnd`.
    public var machineDetection: String?

    public init(to: String, from: String, url: String? = nil, twiml: String? = nil) {
        self.to = to
        self.from = from
        self.url = url
        self.twiml = twiml
    }

    public var form: FormParameters {
        var form = FormParameters()
        form.append("To", to)
        form.append("From", from)
        form.append("Url", url)
        form.append("Twiml", twiml)
        form.append("StatusCallback", statusCallback)
        for event in statusCallbackEvents { form.append("StatusCallbackEvent", event) }
        form.append("Timeout", timeout.map(String.init))
        form.append("Record", record.map { $0 ? "true" : "false" })
        form.append("RecordingChannels", recordingChannels)
        form.append("RecordingStatusCallback", recordingStatusCallback)
        if recordingStatusCallback != nil { form.append("RecordingStatusCallbackEvent", "completed absent") }
        form.append("TimeLimit", timeLimit.map(String.init))
        form.append("MachineDetection", machineDetection)
        return form
    }
}
