/// Where a campaign is in its life: `paused` holds every message not yet sent (the worker snoozes
/// them), `cancelled` ends them; `active` sends.
public enum CampaignState: String, Sendable, Codable, CaseIterable {
    case active, paused, cancelled
}
