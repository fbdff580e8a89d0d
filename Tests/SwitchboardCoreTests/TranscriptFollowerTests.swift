import SwitchboardCore
import Testing

/// Following a live transcript between readings: new lines, an answer cut to what was heard, and
/// one taken back with something else said in its place.
@Suite struct TranscriptFollowerTests {
    typealias Line = SessionState.SpokenLine
    static let greeting = Line(speaker: .agent, text: "Hello, how can I help?")
    static let question = Line(speaker: .caller, text: "Where is my order?")
    static let answer = Line(speaker: .agent, text: "Your order ships today, and tracking follows.")

    @Test func newLinesOnceEach() {
        var follower = TranscriptFollower()
        #expect(follower.update([Self.greeting]) == [.said(index: 0, Self.greeting)])
        #expect(follower.update([Self.greeting]) == [], "nothing new, nothing shown")
        #expect(
            follower.update([Self.greeting, Self.question, Self.answer]) == [
                .said(index: 1, Self.question), .said(index: 2, Self.answer),
            ])
    }

    @Test func anInterruptedAnswerIsRevisedToWhatWasHeard() {
        var follower = TranscriptFollower()
        _ = follower.update([Self.greeting, Self.question, Self.answer])
        let heard = Line(speaker: .agent, text: "Your order ships")
        let next = Line(speaker: .caller, text: "Today?")
        #expect(
            follower.update([Self.greeting, Self.question, heard, next]) == [
                .revised(index: 2, heard), .said(index: 3, next),
            ])
    }

    @Test func anAnswerTakenBackAndAnotherSaidInItsPlace() {
        var follower = TranscriptFollower()
        _ = follower.update([Self.greeting, Self.question, Self.answer])
        let instead = Line(speaker: .caller, text: "Hello?")
        #expect(
            follower.update([Self.greeting, Self.question, instead]) == [
                .revised(index: 2, nil), .said(index: 2, instead),
            ])
        #expect(follower.update([Self.greeting, Self.question]) == [.revised(index: 2, nil)])
    }
}
