import SwitchboardStore
import Testing

/// Link codes: read back to what they name, refused when anything in them is changed or made up.
@Suite struct TrackedLinkTests {
    let key = LinkKey.random()

    @Test(arguments: [(1, 0), (61, 1), (62, 4_294_967_298), (9_000_000_000, 12_345_678_901_234)] as [(Int64, Int64)])
    func codesReadBackToTheirTarget(link: Int64, recipient: Int64) {
        let target = TrackedLink.Target(linkID: link, recipient: recipient)
        let code = TrackedLink.code(target, key: key)
        #expect(code.count <= 30)
        #expect(code.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(TrackedLink.target(of: code, key: key) == target)
        #expect(TrackedLink.target(of: code, key: LinkKey.random()) == nil, "another key")
    }

    @Test func everyChangedCharacterIsRefused() {
        let code = TrackedLink.code(.init(linkID: 42, recipient: 4_294_967_303), key: key)
        for index in code.indices {
            for replacement in ["0", "Z", "z"] where String(code[index]) != replacement {
                var changed = code
                changed.replaceSubrange(index...index, with: replacement)
                #expect(TrackedLink.target(of: changed, key: key) == nil, "\(changed)")
            }
        }
        #expect(TrackedLink.target(of: code.dropLast(), key: key) == nil)
        #expect(TrackedLink.target(of: code + "0", key: key) == nil)
    }

    @Test(arguments: [
        "", "0", "abc", "../../etc/passwd", "%00%00", String(repeating: "z", count: 500), "1A0AAAAAAAA", "😀😀😀😀😀😀😀😀😀😀😀",
    ])
    func garbageIsRefused(code: String) {
        #expect(TrackedLink.target(of: code, key: key) == nil)
    }

    @Test func previewsAndCrawlersAreCountedApart() {
        let people = [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
        ]
        let bots = [
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0", "WhatsApp/2.23.20.0", "Slackbot-LinkExpanding 1.0",
            "TelegramBot (like TwitterBot)", "Mozilla/5.0 (compatible; Googlebot/2.1)", "curl/8.5.0", "",
            "python-requests/2.31",
        ]
        for agent in people { #expect(!TrackedLink.isBot(userAgent: agent), "\(agent)") }
        for agent in bots { #expect(TrackedLink.isBot(userAgent: agent), "\(agent)") }
        #expect(TrackedLink.isBot(userAgent: nil))
    }
}
