-- Switchboard 0014: how quickly a ConversationRelay turn was answered, measured by the webhook
-- and stored with the turn (milliseconds; null where it does not apply):
--   first_token_ms        the caller's final words (prompt, last) received → the answer's first
--                         text token sent to Twilio
--   model_first_token_ms  the model request sent → its first token received (the model's share)
--   cancel_ms             an interrupt received → the model's stream cancelled and ended
-- first_token_ms minus model_first_token_ms is what Switchboard adds to the voice-to-voice time.

ALTER TABLE switchboard.voice_turns
    ADD COLUMN first_token_ms double precision,
    ADD COLUMN model_first_token_ms double precision,
    ADD COLUMN cancel_ms double precision;
