-- Switchboard 0013: a ConversationRelay session that ends while its call goes on (the webhook host
-- drained, or its socket broke) continues by <Gather> from the stored session, on any host. The
-- turn that continued it is kept, so a repeated <Connect action> request gets the same TwiML
-- instead of starting another turn.

ALTER TABLE switchboard.voice_sessions ADD COLUMN relay_ended_turn integer;
