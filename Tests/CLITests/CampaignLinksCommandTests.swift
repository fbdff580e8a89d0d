import Foundation
import TestSupport
import Testing

/// `campaign create` with tracked links: the base URL is required and checked, `--shorten-urls`
/// wraps every URL, expiries are read as durations; each refusal names its flag.
@Suite struct CampaignLinksCommandTests {
    @Test func createWithLinks() async throws {
        try await TestDatabase.with { db in
            let account = "AC" + String(repeating: "11c5", count: 8)
            let sandbox = try await CLISandbox.start(db, accountSID: account, token: "links-token-0123456789")
            defer { sandbox.stop() }
            let create = ["campaign", "create", "--account", "main", "--from", "+15557654321"]
            for (arguments, message) in [
                (
                    ["--name", "a", "--body", #"Sale {{link "https://shop.example/x"}}"#],
                    "--link-base-url: the body has tracked links"
                ),
                (
                    ["--name", "b", "--body", #"Sale {{link url}}"#, "--link-base-url", "https://go.example"],
                    "link takes one URL in quotes"
                ),
                (
                    [
                        "--name", "c", "--body", #"Sale {{link "https://shop.example/x"}}"#, "--link-base-url",
                        "ftp://go.example",
                    ], "link_base_url"
                ),
                (
                    [
                        "--name", "d", "--body", #"Sale {{link "https://shop.example/x"}}"#, "--link-base-url",
                        "https://go.example/?a=1",
                    ], "link_base_url"
                ),
                (
                    [
                        "--name", "e", "--body", "Sale https://shop.example/x", "--shorten-urls", "--link-base-url",
                        "https://go.example", "--links-expire-after", "soon",
                    ], "--links-expire-after"
                ),
            ] {
                let (status, output) = try await sandbox.outcome(create + arguments)
                #expect(status != 0 && output.contains(message), "\(arguments): \(output)")
            }
            #expect(try await db.integer("SELECT count(*) FROM switchboard.campaigns") == 0)

            let made = try await sandbox.run(
                create + [
                    "--name", "spring", "--body", "Sale at https://shop.example/x?y=1. Reply STOP to opt out.",
                    "--shorten-urls", "--link-base-url", "https://go.example/", "--links-expire-after", "90d",
                ])
            #expect(made.contains("1 tracked link(s) pointing at https://go.example/l/"), "\(made)")
            let row = try await db.pool.query(
                """
                SELECT template ->> 'body', link_base_url, extract(epoch FROM links_expire_after)::bigint
                FROM switchboard.campaigns WHERE name = 'spring'
                """
            ).firstRow()
            #expect(
                try row.decode(String.self, at: 0)
                    == #"Sale at {{link "https://shop.example/x?y=1"}}. Reply STOP to opt out."#)
            #expect(try row.decode(String.self, at: 1) == "https://go.example")
            #expect(try row.decode(Int64.self, at: 2) == 90 * 86_400)
        }
    }
}
