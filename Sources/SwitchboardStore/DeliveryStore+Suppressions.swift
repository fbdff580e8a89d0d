import Foundation
import Postgres

extension DeliveryStore {
    public struct Suppression: Sendable, Equatable, Codable {
        public var address: String
        public var scope: String
        public var scopeValue: String
        public var reason: String
        public var source: String
        public var createdAt: Date
    }

    /// An account's suppressions (all, or one address's), newest first.
    public func suppressions(accountID: Int64, address: String? = nil, limit: Int = 100) async throws -> [Suppression] {
        try await pool.query(
            """
            SELECT address, scope, scope_value, reason, source, created_at FROM switchboard.suppressions
            WHERE account_id = \(accountID) AND (\(address)::text IS NULL OR address = \(address))
            ORDER BY id DESC LIMIT \(limit)
            """
        ).map {
            Suppression(
                address: try $0.decode(String.self, at: 0), scope: try $0.decode(String.self, at: 1),
                scopeValue: try $0.decode(String.self, at: 2), reason: try $0.decode(String.self, at: 3),
                source: try $0.decode(String.self, at: 4), createdAt: try $0.decode(Date.self, at: 5))
        }
    }
}
