import Foundation
import Postgres
import TestSupport
import Testing

/// A text-backed enumeration, as the store keeps states (`CHECK (state IN (…))`).
enum Colour: String, PostgresCodable {
    case red, green
}

@Suite struct ValueTests {
    /// A value this binary does not know is a decoding error, not a silent default (an unknown
    /// job state once read as `failed`).
    @Test func textEnumerationsBindTheirRawValueAndRefuseUnknownOnes() async throws {
        try await TestDatabase.with { db in
            let row = try await db.pool.query("SELECT \(Colour.green)::text, 'red', 'blue'")[0]
            #expect(try row.decode(String.self, at: 0) == "green")
            #expect(try row.decode(Colour.self, at: 0) == .green)
            #expect(try row.decode(Colour.self, at: 1) == .red)
            let error = #expect(throws: PostgresError.self) { try row.decode(Colour.self, at: 2) }
            #expect(error?.kind == .decoding)
            #expect(
                error?.description.contains("cannot decode 'blue' as Colour") == true, "\(String(describing: error))")
        }
    }

    /// Times are written digit by digit (no `String(format:)`): the same text for every instant,
    /// before 1970 and at the microsecond's edge included, and PostgreSQL reads each back.
    @Test func timesAreWrittenAsISO8601InUTCWithMicroseconds() async throws {
        let cases: [(Double, String)] = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_764_093_522.123456, "2025-11-25T17:58:42.123456Z"),
            (-1.5, "1969-12-31T23:59:58.500000Z"),
            (951_782_399.999_999_6, "2000-02-29T00:00:00.000000Z"),
            (-62_135_596_800, "0001-01-01T00:00:00.000000Z"),
            (253_402_300_799, "9999-12-31T23:59:59.000000Z"),
        ]
        for (seconds, text) in cases {
            #expect(Date(timeIntervalSince1970: seconds).postgresText == text)
        }
        #expect(Date(timeIntervalSince1970: 253_402_300_800).postgresText == "10000-01-01T00:00:00.000000Z")
        try await TestDatabase.with { db in
            for (seconds, _) in cases {
                let when = Date(timeIntervalSince1970: seconds)
                let back = try await db.pool.query("SELECT \(when)::timestamptz")[0].decode(Date.self, at: 0)
                #expect(abs(back.timeIntervalSince(when)) < 0.000_002, "\(seconds)")
            }
        }
    }

    @Test func scalarTypesRoundTrip() async throws {
        try await TestDatabase.with { db in
            let when = Date(timeIntervalSince1970: 1_764_093_522.123456)
            let id = UUID()
            let bytes = Data([0, 1, 2, 0xfe, 0xff, 0x5c, 0x22])
            let row = try await db.pool.query(
                """
                SELECT \("tab\there \"quoted\" ünïcödé ✓")::text, \(true)::bool, \(Int16(-32768))::int2,
                       \(Int32(2_147_483_647))::int4, \(Int64.max)::int8, \(3.5e-7)::float8,
                       \("12345678901234567890.123456789")::numeric, \(Decimal(string: "-0.000001")!)::numeric,
                       \(when)::timestamptz, \(id)::uuid, \(bytes)::bytea, \(PostgresJSON(text: #"{"a": [1, "x"]}"#))::jsonb,
                       \(nil as String?)::text
                """
            )[0]
            #expect(try row.decode(String.self, at: 0) == "tab\there \"quoted\" ünïcödé ✓")
            #expect(try row.decode(Bool.self, at: 1) == true)
            #expect(try row.decode(Int16.self, at: 2) == -32768)
            #expect(try row.decode(Int32.self, at: 3) == 2_147_483_647)
            #expect(try row.decode(Int64.self, at: 4) == Int64.max)
            #expect(try row.decode(Double.self, at: 5) == 3.5e-7)
            #expect(try row.decode(String.self, at: 6) == "12345678901234567890.123456789")
            #expect(try row.decode(Decimal.self, at: 7) == Decimal(string: "-0.000001")!)
            let decodedDate = try row.decode(Date.self, at: 8)
            #expect(abs(decodedDate.timeIntervalSince(when)) < 0.000_001)
            #expect(try row.decode(UUID.self, at: 9) == id)
            #expect(try row.decode(Data.self, at: 10) == bytes)
            #expect(try row.decode(PostgresJSON.self, at: 11).text == #"{"a": [1, "x"]}"#)
            #expect(try row.decode(String?.self, at: 12) == nil)
            #expect(throws: PostgresError.self) { try row.decode(String.self, at: 12) }
        }
    }

    @Test func timestampsInAnyServerTimeZone() async throws {
        try await TestDatabase.with { db in
            try await db.pool.withConnection { connection in
                try await connection.query("SET TIME ZONE 'Asia/Kolkata'")
                let row = try await connection.query("SELECT '2026-11-25 12:00:00.5+00'::timestamptz")[0]
                #expect(try row.decode(Date.self, at: 0) == Date(timeIntervalSince1970: 1_795_608_000.5))
                try await connection.query("RESET TIME ZONE")
            }
        }
    }

    @Test func arraysRoundTrip() async throws {
        try await TestDatabase.with { db in
            // A quote or backslash followed by a combining mark is one Character with it: the
            // escaping works on bytes, so these are escaped too (per Character they were not).
            let texts = [
                "plain", "with,comma", "with \"quote\"", "back\\slash", "", "NULL", "{braces}", "ü", "\"\u{301}x",
                "\\\u{301}", "日本 \"引用\"",
            ]
            let numbers: [Int64] = [1, -2, Int64.max]
            let row = try await db.pool.query(
                "SELECT \(texts)::text[], \(numbers)::int8[], ARRAY['a', NULL]::text[], '{}'::text[]")[0]
            #expect(try row.decode([String].self, at: 0) == texts)
            #expect(try row.decode([Int64].self, at: 1) == numbers)
            #expect(try row.decode([Nullable<String>].self, at: 2).map(\.value) == ["a", nil])
            #expect(try row.decode([String].self, at: 3) == [])
        }
    }

    @Test func decodingErrorsNameTheColumn() async throws {
        try await TestDatabase.with { db in
            let row = try await db.pool.query("SELECT 'abc'::text AS label")[0]
            let error = #expect(throws: PostgresError.self) { try row.decode(Int.self, "label") }
            #expect(error?.kind == .decoding)
            #expect(error?.message.contains("label") == true)
            #expect(throws: PostgresError.self) { try row.decode(Int.self, "missing") }
        }
    }
}

/// Issue 11 §8: parameters travel as C strings, so a NUL byte used to cut a value short silently.
@Suite struct NULParameterTests {
    @Test func aNULInATextParameterIsRefusedNotTruncated() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE t (v text)")
            let error = await #expect(throws: PostgresError.self) {
                try await db.pool.query("INSERT INTO t VALUES (\("before\u{0}after"))")
            }
            #expect(error?.sqlState == "22021" && error?.message.contains("$1") == true)
            let rows = try await db.integer("SELECT count(*) FROM t")
            #expect(rows == 0)
        }
    }
}
