import Foundation
import Postgres
import SwitchboardCore

/// Tracked links (migration 0029): a campaign's links, the key their codes are signed with, and
/// the clicks. The redirect reads the link by its id and records the click in one statement.
public struct LinkStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// The key link codes are signed with (made by the migration, never changed).
    public func key() async throws -> LinkKey {
        LinkKey(
            try await pool.query("SELECT secret FROM switchboard.link_keys WHERE id = 1")[0].decode(Data.self, at: 0))
    }

    /// The ids of the campaign's links for these URLs, made when missing.
    public func ensureLinks(campaignID: Int64, urls: [String]) async throws -> [String: Int64] {
        guard !urls.isEmpty else { return [:] }
        let rows = try await pool.query(
            """
            WITH wanted AS (SELECT DISTINCT url FROM unnest(\(urls)::text[]) AS u(url)),
            made AS (
                INSERT INTO switchboard.links (campaign_id, url) SELECT \(campaignID), url FROM wanted
                ON CONFLICT (campaign_id, url) DO NOTHING
                RETURNING id, url
            )
            SELECT id, url FROM made
            UNION ALL
            SELECT l.id, l.url FROM switchboard.links l JOIN wanted w ON w.url = l.url WHERE l.campaign_id = \(campaignID)
            """)
        var ids: [String: Int64] = [:]
        for row in rows { ids[try row.decode(String.self, at: 1)] = try row.decode(Int64.self, at: 0) }
        return ids
    }

    /// What following a link comes to.
    public enum Resolution: Sendable, Equatable {
        case redirect(String)
        /// The campaign's links expired (`--links-expire-after`).
        case expired
        /// No such link (its campaign was deleted).
        case unknown
    }

    /// Follows a link: its URL, with the click recorded (unless it expired).
    public func follow(_ target: TrackedLink.Target, bot: Bool, userAgent: String?) async throws -> Resolution {
        let agent = userAgent.map { String($0.unicodeScalars.filter { $0.value >= 0x20 }.prefix(256)) }
        guard
            let row = try await pool.query(
                """
                WITH link AS (
                    SELECT l.id, l.url, l.campaign_id,
                           coalesce(l.created_at + c.links_expire_after < now(), false) AS expired
                    FROM switchboard.links l JOIN switchboard.campaigns c ON c.id = l.campaign_id
                    WHERE l.id = \(target.linkID)
                ), recorded AS (
                    INSERT INTO switchboard.link_clicks (link_id, campaign_id, recipient, bot, user_agent)
                    SELECT id, campaign_id, \(target.recipient), \(bot), \(agent) FROM link WHERE NOT expired
                )
                SELECT url, expired FROM link
                """
            ).first
        else { return .unknown }
        return try row.decode(Bool.self, at: 1) ? .expired : .redirect(try row.decode(String.self, at: 0))
    }
}
