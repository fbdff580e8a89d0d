/// Where a campaign is in its life: `paused` holds every message not yet sent (the worker snoozes
/// them), `cancelled` ends them; `active` sends.
public enum CampaignState: String, Sendable, Codable, CaseIterable {
    case active, paused, cancelled
}

/// What a campaign sends.
public enum CampaignChannel: String, Sendable, Codable, CaseIterable {
    case sms, whatsapp

    /// The message channel its jobs are resolved for.
    public var messageChannel: MessageSpec.Channel { self == .whatsapp ? .whatsapp : .sms }
}
