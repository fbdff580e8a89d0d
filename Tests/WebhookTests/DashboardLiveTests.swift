import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// The dashboard's live calls: listed on the overview while they run, and a session page that
/// grows as the call goes on — one streamed HTML response, no reload, no script — escaped and
/// masked like the rest, ending with the outcome.
@Suite struct DashboardLiveTests {
    static let call = "CA" + String(repeating: "5d", count: 16)

    @Test func aLiveCallsTranscriptGrowsInOneResponseUntilItEnds() async throws {
        try await WebhookHarness.with(.live, dashboardToken: DashboardTests.token) { (hooks: WebhookHarness) in
            let id = try await LLMRelayTests.conversation(hooks)
            let sessions = SessionStore(pool: hooks.db.pool)
            let opened = try #require(try await sessions.session(id: id))
            let settings = try #require(opened.spec.llm)
            func store(_ conversation: Conversation, ended: AgentOutcome? = nil) async throws {
                _ = try await sessions.takeTurn(sessionID: id, accountID: hooks.accountID, callSID: Self.call) { _ in
                    .produce(state: .conversation(conversation), twiml: "", ended: ended)
                }
            }
            var conversation = Conversation()
            _ = conversation.start(greeting: "Hello <b>there</b>, Acme here.")
            try await store(conversation)

            let overview = try await hooks.get("/dashboard", authorization: DashboardTests.basic)
            #expect(overview.body.contains("Live calls") && overview.body.contains("/dashboard/sessions/\(id)/live"))
            #expect(overview.body.contains("Hello &lt;b&gt;there&lt;/b&gt;"), "the last line, escaped")

            var request = HTTPClientRequest(url: hooks.address + "/dashboard/sessions/\(id)/live")
            request.headers.add(name: "Authorization", value: DashboardTests.basic)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            var chunks = response.body.makeAsyncIterator()
            var page = ""
            func read(until text: String) async throws -> Bool {
                while !page.contains(text) {
                    guard let chunk = try await chunks.next() else { return false }
                    page += String(buffer: chunk)
                }
                return true
            }
            #expect(try await read(until: "Hello &lt;b&gt;there&lt;/b&gt;, Acme here."), "\(page)")

            _ = conversation.hear(
                CallerInput(speech: "My number is +15551234567", confidence: 1), settings: settings, elapsed: 3)
            _ = conversation.reply(
                "It ships today, and tracking follows.", promptTokens: 5, completionTokens: 7, settings: settings)
            try await store(conversation)
            #expect(try await read(until: "It ships today, and tracking follows."), "the new lines, same response")
            #expect(!page.contains("5551234567") && page.contains("+*********67"), "numbers masked: \(page)")

            conversation.interrupted(heard: "It ships today")
            try await store(conversation)
            #expect(try await read(until: "the caller heard:</i> It ships today"), "\(page)")

            _ = conversation.hear(CallerInput(speech: "Bye", confidence: 1), settings: settings, elapsed: 8)
            try await store(conversation, ended: .callerGoodbye)
            #expect(try await read(until: "Ended: caller_goodbye."), "\(page)")
            #expect(try await chunks.next() == nil, "the response ends with the call")
            #expect(page.hasSuffix("</body></html>") && !page.contains("<script"))

            let after = try await hooks.get("/dashboard", authorization: DashboardTests.basic)
            #expect(after.body.contains("No call in progress."))
        }
    }
}
