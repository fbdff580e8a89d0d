/// Where a campaign is in its life: `paused` holds every message not yet sent (the worker snoozes
/// them), `cancelled` ends them; `active` sends.
public enum CampaignState: String, Sendable, Codable, CaseIterable {
    case active, paused, cancelled
}

/// How many of a campaign's recipients the feeder turns into jobs on one pass (pure).
///
/// A campaign is fed at its pace (its rate cap, else what its senders can send): each fed job gets
/// a run_at spread at that pace, and only jobs due within the scheduling horizon are made, so they
/// go straight into the claim path and never sit in it long. However slowly they are sent (a
/// paused campaign, quiet hours, saturated senders), the campaign never has more than `lookahead`
/// of its capacity live in the queue: the queue stays small whatever the campaign's size.
public struct CampaignFeedPlan: Sendable, Equatable {
    /// Messages per second the campaign can send; nil when nothing limits it (a sender with no
    /// registered rate).
    public var pace: Double?
    /// How much of the campaign's capacity may be live (scheduled, available, running) at once.
    public var lookahead: Duration
    /// Most jobs one pass makes (one statement).
    public var batch: Int

    public init(pace: Double?, lookahead: Duration, batch: Int) {
        self.pace = pace
        self.lookahead = lookahead
        self.batch = batch
    }

    /// Live jobs allowed at once: the look-ahead at the pace (at least one), or a batch when the
    /// pace is unknown.
    public var capacity: Int {
        guard let pace, pace > 0 else { return batch }
        return max(1, Int((pace * lookahead.seconds).rounded(.up)))
    }

    /// Jobs to make now, when `live` of the campaign's jobs are in the queue and the next fed job
    /// would be due in `nextDueIn` (zero or more: the feeder starts from now when it fell behind).
    public func count(live: Int, nextDueIn: Duration) -> Int {
        var room = min(batch, capacity - live)
        if let pace, pace > 0 {
            let window = (JobState.schedulingHorizon - max(nextDueIn, .zero)).seconds
            room = min(room, Int((window * pace).rounded(.down)))
        }
        return max(0, room)
    }
}
