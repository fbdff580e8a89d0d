import Foundation

/// What a campaign did (`switchboard campaign report`, the dashboard's campaign page).
///
/// Every figure is read by index ranges: the campaign's messages by `(campaign_id, created_at)`
/// (migration 0027), bounded below by the campaign's creation so history partitions from before
/// it are pruned; replies and opt-outs by `(campaign_id, received_at)` (0028); recipients and
/// finished jobs from the campaign's counters (0017, 0018). Nothing scans a whole table.
public struct CampaignReport: Sendable, Codable, Equatable {
    public var campaign: String
    public var account: String
    public var state: String
    public var createdAt: Date
    public var finishedAt: Date?

    /// Imported recipients to send to, and those skipped at import as opted out.
    public var recipients: Int64
    public var skippedOptedOut: Int64
    /// Recipients not sent to yet: waiting to be fed, or their job not finished.
    public var notYetSent: Int64
    /// Jobs that ended without a message (Twilio refused the send, or it was cancelled).
    public var jobsFailed: Int64
    public var jobsCancelled: Int64

    public var messages: MessageCounts
    /// Undelivered and failed messages by Twilio error code, most frequent first.
    public var errors: [ErrorCount]
    /// Opt-out keywords answering one of the campaign's messages.
    public var optedOutDuring: Int64
    public var replies: Int64
    /// Recipients who replied at least once; the rate is over delivered messages.
    public var repliers: Int64
    public var replyRate: Double?
    public var clicks: ClickCounts
    public var segments: Int64
    public var cost: [CostLine]
    /// Final messages whose price Twilio has not published yet (a check waits), and those never
    /// priced (given up on, or sent while nothing asked: before migration 0027 or pricing off).
    public var costWaiting: Int64
    public var costUnknown: Int64
    /// Accepted → sent, sent → delivered, accepted → delivered.
    public var timings: [Timing]
    public var bySender: [Breakdown]
    /// By country calling code ("+44"; "+1" is the North American Numbering Plan).
    public var byCountry: [Breakdown]
    public var overTime: TimeSeries

    public struct MessageCounts: Sendable, Codable, Equatable {
        /// Accepted by Twilio (one row per message).
        public var accepted: Int64
        public var delivered: Int64
        public var undelivered: Int64
        public var failed: Int64
        /// Accepted, no final status yet.
        public var inFlight: Int64
    }

    public struct ErrorCount: Sendable, Codable, Equatable {
        public var code: Int
        public var meaning: String
        public var messages: Int64
    }

    public struct ClickCounts: Sendable, Codable, Equatable {
        /// Clicks by people (bots and link previews apart).
        public var clicks: Int64
        public var uniqueRecipients: Int64
        public var bots: Int64
        /// Over delivered messages.
        public var clickRate: Double?
    }

    public struct CostLine: Sendable, Codable, Equatable {
        public var priceUnit: String
        /// What was charged (positive), a decimal string.
        public var amount: String
        public var messages: Int64
    }

    public struct Timing: Sendable, Codable, Equatable {
        public var span: String
        public var messages: Int64
        /// Seconds.
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
    }

    public struct Breakdown: Sendable, Codable, Equatable {
        public var key: String
        public var accepted: Int64
        public var delivered: Int64
        /// Undelivered or failed.
        public var failed: Int64
        public var segments: Int64
        /// Charged so far (prices not yet published count nothing); "mixed" currencies are summed apart elsewhere.
        public var cost: String
        public var priceUnit: String?
    }

    public struct TimeSeries: Sendable, Codable, Equatable {
        public var bucketSeconds: Int
        public var buckets: [Bucket]
    }

    public struct Bucket: Sendable, Codable, Equatable {
        public var start: Date
        public var accepted: Int64
        public var delivered: Int64
        public var failed: Int64
        public var replies: Int64
        public var clicks: Int64
    }
}

/// One recipient's outcome (`campaign report --recipients --csv`).
public struct RecipientOutcome: Sendable, Equatable {
    public var recipient: String
    /// The line of the import file it came from.
    public var line: Int
    /// pending (not sent yet), queued (its job exists), opted_out (skipped at import).
    public var importStatus: String
    public var messageSID: String?
    public var messageStatus: String?
    public var errorCode: Int?
    public var segments: Int?
    public var price: String?
    public var priceUnit: String?
    public var acceptedAt: Date?
    public var sentAt: Date?
    public var deliveredAt: Date?
    public var replies: Int
    public var optedOut: Bool
    /// People's clicks on its tracked links (previews and crawlers not counted).
    public var clicks: Int
}
