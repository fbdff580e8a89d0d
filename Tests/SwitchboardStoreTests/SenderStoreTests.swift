import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// An account row for sender tests.
func makeAccount(_ db: TestDatabase) async throws -> Int64 {
    let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
    return try await AccountStore(pool: db.pool, vault: vault)
        .upsert(name: "main", accountSID: "AC" + String(repeating: "0a", count: 16), secret: "a-long-enough-test-token")
}

@Suite struct SenderStoreTests {
    @Test func reservationsArePacedAtTheSendersRate() async throws {
        try await TestDatabase.with { db in
            let senders = SenderStore(pool: db.pool)
            let id = try await senders.addSender(
                accountID: try await makeAccount(db), address: "+14155550001", kind: .longCode, rate: 2)
            // Booked in one transaction (one `now()`), so the pacing shows however slow the machine is.
            let slots = try await db.pool.transaction { connection in
                var slots: [Date] = []
                for segments in [1, 1, 3, 1] {
                    let row = try await connection.query(
                        "SELECT slot FROM switchboard.reserve_sender(\(id), \(Double(segments)), 30)")[0]
                    slots.append(try row.decode(Date.self, at: 0))
                }
                return slots
            }
            let offsets = slots.map { $0.timeIntervalSince(slots[0]) }
            // 1 segment = 0.5 s at 2 segments/s; the 3-segment message books 1.5 s.
            for (offset, expected) in zip(offsets, [0, 0.5, 1.0, 2.5]) {
                #expect(abs(offset - expected) < 0.02, "\(offsets)")
            }
            #expect(slots[0] <= Date(), "an idle sender's first slot is at once, not later")
        }
    }

    @Test func nothingIsBookedBeyondTheHorizon() async throws {
        try await TestDatabase.with { db in
            let senders = SenderStore(pool: db.pool)
            let id = try await senders.addSender(
                accountID: try await makeAccount(db), address: "+14155550001", kind: .longCode)
            // Six bookings in one transaction share one `now()`, so the horizon is exact however
            // slow the machine is.
            let rows = try await db.pool.transaction { connection in
                var rows: [PostgresRow] = []
                for _ in 0..<6 {
                    rows.append(
                        try await connection.query(
                            "SELECT slot, next_free FROM switchboard.reserve_sender(\(id), 1, 2)")[0])
                }
                return rows
            }
            let slots = try rows.compactMap { try $0.decode(Date?.self, at: 0) }
            let retries = try rows.compactMap { try $0.decode(Date?.self, at: 1) }
            // Slots at +0, +1, +2 fit a 2-second horizon at 1 segment/s; the sender is booked until
            // +3, so booking is possible again at +1 (when +3 is 2 seconds away).
            #expect(slots.count == 3)
            #expect(retries.count == 3)
            let offsets = slots.map { $0.timeIntervalSince(slots[0]) }
            #expect(offsets.map { ($0 * 1000).rounded() } == [0, 1000, 2000])
            #expect(abs(retries[0].timeIntervalSince(slots[0]) - 1) < 0.001)
            _ = senders
        }
    }

    @Test func poolsPreferStickyThenCountryThenAreaThenLeastBooked() async throws {
        try await TestDatabase.with { db in
            let account = try await makeAccount(db)
            let senders = SenderStore(pool: db.pool)
            let sf = try await senders.addSender(accountID: account, address: "+14155550001", kind: .longCode, rate: 10)
            let ny = try await senders.addSender(accountID: account, address: "+12125550001", kind: .longCode, rate: 10)
            let uk = try await senders.addSender(
                accountID: account, address: "+447700900001", kind: .longCode, rate: 10)
            let pool = try await senders.createPool(accountID: account, name: "marketing", senderIDs: [sf, ny, uk])
            func pick(_ to: String) async throws -> Int64? {
                let number = try PhoneNumber(parsing: to, field: "to")
                guard
                    case .reserved(let r) = try await senders.reserve(
                        poolID: pool, recipient: number, capability: "sms", segments: 1, horizon: .seconds(60),
                        recipientKey: number.e164)
                else { return nil }
                return r.senderID
            }
            #expect(try await pick("+14155559999") == sf, "area code 415")
            #expect(try await pick("+12125559999") == ny, "area code 212")
            #expect(try await pick("+447700900999") == uk, "country +44")
            // An area code with no local number: a +1 sender, the least booked one.
            let other = try await pick("+13055559999")
            #expect(other == sf || other == ny)
            // Sticky: the San Francisco recipient keeps its number even when it is the busiest.
            for _ in 0..<5 { _ = try await senders.reserve(senderID: sf, segments: 1, horizon: .seconds(60)) }
            #expect(try await pick("+14155559999") == sf)
            let voice = try await senders.reserve(
                poolID: pool, recipient: try PhoneNumber(parsing: "+14155559999", field: "to"), capability: "whatsapp",
                segments: 1,
                horizon: .seconds(60), recipientKey: "+14155559999")
            #expect(voice == .noSender)
        }
    }

    @Test func concurrentReservationsNeverShareASlot() async throws {
        try await TestDatabase.with(poolSize: 10) { db in
            let account = try await makeAccount(db)
            let senders = SenderStore(pool: db.pool)
            let a = try await senders.addSender(accountID: account, address: "+14155550001", kind: .longCode, rate: 20)
            let b = try await senders.addSender(accountID: account, address: "+14155550002", kind: .longCode, rate: 20)
            let pool = try await senders.createPool(accountID: account, name: "p", senderIDs: [a, b], sticky: false)
            let reservations = try await withThrowingTaskGroup(of: [SenderReservation].self) { group in
                for task in 0..<8 {
                    group.addTask {
                        var mine: [SenderReservation] = []
                        for n in 0..<25 {
                            let number = try PhoneNumber(
                                parsing: "+1212555\(String(format: "%04d", task * 100 + n))", field: "to")
                            if case .reserved(let r) = try await senders.reserve(
                                poolID: pool, recipient: number, capability: "sms", segments: 1, horizon: .seconds(60),
                                recipientKey: number.e164)
                            {
                                mine.append(r)
                            }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [SenderReservation]()) { $0 += $1 }
            }
            #expect(reservations.count == 200)
            for sender in [a, b] {
                let slots = reservations.filter { $0.senderID == sender }.map(\.slot).sorted()
                #expect(slots.count > 50, "both senders were used")
                let gaps = zip(slots.dropFirst(), slots).map { $0.timeIntervalSince($1) }
                #expect(gaps.allSatisfy { $0 > 0.0499 }, "slots 1/20 s apart at least; smallest \(gaps.min() ?? 0)")
            }
        }
    }

    @Test(arguments: [
        ("+1555", SenderKind.longCode, "address"), ("12", SenderKind.shortCode, "address"),
        ("+14155550001", SenderKind.whatsapp, "address"), ("ThisIsTooLongASender", SenderKind.alphanumeric, "address"),
    ])
    func badSendersAreRefusedByField(address: String, kind: SenderKind, field: String) async throws {
        try await TestDatabase.with { db in
            let account = try await makeAccount(db)
            let error = await #expect(throws: InputError.self) {
                try await SenderStore(pool: db.pool).addSender(accountID: account, address: address, kind: kind)
            }
            #expect(error?.field == field)
        }
    }
}

@Suite struct SuppressionTests {
    @Test func scopesAndOptingBackIn() async throws {
        try await TestDatabase.with { db in
            let account = try await makeAccount(db)
            let store = DeliveryStore(pool: db.pool)
            try await store.suppress(
                accountID: account, address: "+15550000001", scope: "sender", scopeValue: "+14155550001",
                reason: "replied STOP",
                source: "keyword", sourceMessageSID: "SM" + String(repeating: "0", count: 32))
            #expect(
                try await store.isSuppressed(
                    accountID: account, address: "+15550000001", sender: "+14155550001", pool: nil))
            #expect(
                !(try await store.isSuppressed(
                    accountID: account, address: "+15550000001", sender: "+14155550002", pool: nil)))
            try await store.suppress(
                accountID: account, address: "+15550000002", reason: "21610", source: "twilio_error")
            try await store.suppress(
                accountID: account, address: "+15550000003", scope: "pool", scopeValue: "promo", reason: "replied STOP",
                source: "keyword")
            #expect(
                try await store.isSuppressed(
                    accountID: account, address: "+15550000002", sender: "+14155550009", pool: nil))
            let batch = try await store.suppressed([
                (account, "+15550000001", "+14155550001", nil), (account, "+15550000001", nil, nil),
                (account, "+15550000002", nil, nil), (account, "+15550000003", nil, "promo"),
                (account, "+15550000003", nil, "other"),
            ])
            #expect(batch == [true, false, true, true, false])
            #expect(
                try await store.unsuppress(
                    accountID: account, address: "+15550000001", scope: "sender", scopeValue: "+14155550001") == 1)
            #expect(
                !(try await store.isSuppressed(
                    accountID: account, address: "+15550000001", sender: "+14155550001", pool: nil)))
            // The history keeps both: when and how.
            let history = try await store.consentHistory(accountID: account, address: "+15550000001")
            #expect(history.map(\.event) == ["opt_out", "opt_in"])
            #expect(history.map(\.source) == ["keyword", "api"])
            let error = await #expect(throws: PostgresError.self) {
                try await store.suppress(accountID: account, address: "+15550000003", reason: "x", source: "rumour")
            }
            #expect(error?.sqlState == "23514")
        }
    }
}
