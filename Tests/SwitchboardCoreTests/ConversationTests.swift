import SwitchboardCore
import Testing

@Suite struct ConversationTests {
    let settings = LLMSettings(
        model: "gpt-4o-mini", systemPrompt: "Be brief.", temperature: 0.7, maxTokens: 150, maxConversationTurns: 2,
        conversationTimeout: 5, allowUserHangup: true)

    func heard(_ text: String) -> CallerInput { CallerInput(speech: text, confidence: 0.9) }

    @Test func aTurnAsksTheModelWithTheSystemPromptFirst() {
        var conversation = Conversation()
        #expect(conversation.start(greeting: nil) == .say(Conversation.defaultGreeting, listen: true))
        guard
            case .complete(let messages) = conversation.hear(
                heard("Where is my order?"), settings: settings, elapsed: 3)
        else {
            Issue.record("expected a model call")
            return
        }
        #expect(messages.map(\.role) == ["system", "assistant", "user"])
        #expect(messages[0].content == "Be brief.")
        #expect(
            conversation.reply("It shipped.", promptTokens: 20, completionTokens: 3, settings: settings)
                == .say("It shipped.", listen: true))
        #expect(conversation.promptTokens == 20 && conversation.completionTokens == 3)
    }

    /// Tools: the model's calls go to the caller of the conversation, their answers back to the
    /// model as `tool` messages; end_call and transfer_call end the conversation with the model's
    /// words; past the round limit the model must answer in words; only words are spoken lines.
    @Test func toolCallsRoundTripAndEndOrTransferTheCall() {
        var conversation = Conversation()
        _ = conversation.start(greeting: nil)
        _ = conversation.hear(heard("Book me for Tuesday"), settings: settings, elapsed: 1)
        let book = ToolCall(id: "c1", name: "book", arguments: #"{"day":"Tuesday"}"#)
        #expect(
            conversation.reply(
                "Let me check.", toolCalls: [book], promptTokens: 1, completionTokens: 1, settings: settings)
                == .useTools([book]))
        #expect(conversation.saidBeforeTools == "Let me check.")
        guard
            case .complete(let messages) = conversation.toolResults(
                [ToolResult(callID: "c1", name: "book", content: #"{"ok":true}"#, ok: true)], settings: settings)
        else {
            Issue.record("expected the model to be asked again")
            return
        }
        #expect(messages.map(\.role) == ["system", "assistant", "user", "assistant", "tool"])
        #expect(messages.last?.toolCallId == "c1" && messages[3].toolCalls == [book])
        // Three rounds at most: a fourth call is ignored and the words are said.
        for round in 2...3 {
            let call = ToolCall(id: "c\(round)", name: "book", arguments: "{}")
            #expect(
                conversation.reply("", toolCalls: [call], promptTokens: 0, completionTokens: 0, settings: settings)
                    == .useTools([call]))
            _ = conversation.toolResults(
                [ToolResult(callID: call.id, name: "book", content: "ok", ok: true)], settings: settings)
        }
        let extra = ToolCall(id: "c4", name: "book", arguments: "{}")
        #expect(
            conversation.reply("Booked.", toolCalls: [extra], promptTokens: 0, completionTokens: 0, settings: settings)
                == .say("Booked.", listen: true))
        #expect(conversation.toolUses.map(\.call.id) == ["c1", "c2", "c3"])
        #expect(
            (SessionState.conversation(conversation)).spokenLines.map(\.text)
                == [Conversation.defaultGreeting, "Book me for Tuesday", "Let me check.", "Booked."])

        var ending = Conversation()
        _ = ending.start(greeting: nil)
        _ = ending.hear(heard("That's everything"), settings: settings, elapsed: 1)
        let end = ToolCall(id: "e", name: "end_call", arguments: "{}")
        _ = ending.reply("Goodbye then!", toolCalls: [end], promptTokens: 0, completionTokens: 0, settings: settings)
        #expect(
            ending.toolResults(
                [ToolResult(callID: "e", name: "end_call", content: "", ok: true, effect: .endCall)], settings: settings
            )
                == .say("Goodbye then!", listen: false))
        #expect(ending.outcome == .agentEnded)

        var transferring = Conversation()
        _ = transferring.start(greeting: nil)
        _ = transferring.hear(heard("A person please"), settings: settings, elapsed: 1)
        let transfer = ToolCall(id: "t", name: "transfer_call", arguments: "{}")
        _ = transferring.reply("", toolCalls: [transfer], promptTokens: 0, completionTokens: 0, settings: settings)
        #expect(
            transferring.toolResults(
                [
                    ToolResult(
                        callID: "t", name: "transfer_call", content: "", ok: true, effect: .transfer(to: "+15551230000")
                    )
                ],
                settings: settings) == .transfer(to: "+15551230000", say: Conversation.transferring))
        #expect(transferring.outcome == .transferred)
    }

    /// Barge-in over the relay: only what the caller heard of an answer stays in the history,
    /// whether the answer was stored before the interruption arrived or not, and an answer cut
    /// off before a word was heard leaves nothing.
    @Test func anInterruptionKeepsOnlyWhatWasHeard() {
        var stored = Conversation()
        _ = stored.start(greeting: nil)
        _ = stored.hear(heard("Where is my order?"), settings: settings, elapsed: 1)
        _ = stored.reply(
            "It shipped on Monday and arrives Friday.", promptTokens: 9, completionTokens: 9, settings: settings)
        stored.interrupted(heard: "It shipped on")
        #expect(stored.history.map(\.content) == [Conversation.defaultGreeting, "Where is my order?", "It shipped on"])

        var streaming = Conversation()
        _ = streaming.start(greeting: nil)
        _ = streaming.hear(heard("Where is my order?"), settings: settings, elapsed: 1)
        streaming.interrupted(heard: " It shipped ")
        #expect(streaming.history.last == ChatMessage(role: "assistant", content: "It shipped"))

        var silent = Conversation()
        _ = silent.start(greeting: nil)
        _ = silent.hear(heard("Where is my order?"), settings: settings, elapsed: 1)
        silent.interrupted(heard: "")
        #expect(silent.history.map(\.role) == ["assistant", "user"])
    }

    @Test func limitsEndTheCall() {
        var conversation = Conversation()
        _ = conversation.start(greeting: "Hi")
        _ = conversation.hear(heard("one"), settings: settings, elapsed: 1)
        _ = conversation.reply("A", promptTokens: 1, completionTokens: 1, settings: settings)
        _ = conversation.hear(heard("two"), settings: settings, elapsed: 2)
        #expect(
            conversation.reply("B", promptTokens: 1, completionTokens: 1, settings: settings)
                == .say("B " + Conversation.closing, listen: false))
        #expect(conversation.outcome == .maxTurns)

        var late = Conversation()
        _ = late.start(greeting: nil)
        #expect(late.hear(heard("hello"), settings: settings, elapsed: 301) == .say(Conversation.timeUp, listen: false))
        #expect(late.outcome == .timeout)

        var quiet = Conversation()
        _ = quiet.start(greeting: nil)
        #expect(
            quiet.hear(CallerInput(), settings: settings, elapsed: 1) == .say(Conversation.stillThere, listen: true))
        _ = quiet.hear(CallerInput(speech: "mumble", confidence: 0.1), settings: settings, elapsed: 2)
        #expect(quiet.hear(CallerInput(), settings: settings, elapsed: 3) == .say(Conversation.closing, listen: false))
        #expect(quiet.outcome == .unanswered)
    }

    @Test func goodbyesEndTheCallWhenAllowed() {
        #expect(Conversation.isGoodbye("Great, thanks. Bye!"))
        #expect(Conversation.isGoodbye("That's all"))
        #expect(!Conversation.isGoodbye("Bye the way, where is my order?"))
        #expect(!Conversation.isGoodbye("goodbye is not what I said, I need help"))
        var polite = Conversation()
        _ = polite.start(greeting: nil)
        #expect(
            polite.hear(heard("goodbye"), settings: settings, elapsed: 1) == .say(Conversation.closing, listen: false))
        var strict = Conversation()
        var noHangup = settings
        noHangup.allowUserHangup = false
        _ = strict.start(greeting: nil)
        guard case .complete = strict.hear(heard("goodbye"), settings: noHangup, elapsed: 1) else {
            Issue.record("a goodbye is an ordinary message without allowUserHangup")
            return
        }
    }

    @Test func aFailedTurnLeavesNoTraceInTheHistory() {
        var conversation = Conversation()
        _ = conversation.start(greeting: "Hi")
        _ = conversation.hear(heard("first try"), settings: settings, elapsed: 1)
        #expect(conversation.failed() == .say(Conversation.fallback, listen: true))
        #expect(conversation.history.map(\.content) == ["Hi"])
        #expect(conversation.turns == 0)
    }
}
