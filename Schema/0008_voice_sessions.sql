-- Switchboard 0008: voice-agent sessions. All of a call's state lives here, so any webhook host
-- can take any turn: each turn is one transaction on the session row, and the TwiML produced for
-- each turn is kept so a repeated request (Twilio retries on timeout) gets the same answer and does
-- not advance the interview twice.

CREATE TABLE switchboard.voice_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          bigint      UNIQUE,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    call_sid        text        UNIQUE,
    agent_type      text        NOT NULL CHECK (agent_type IN ('questions', 'llm')),
    -- The validated agent (flow, voice, language, greeting) as the job carried it.
    spec            jsonb       NOT NULL,
    -- The interview's or conversation's state (position, retries, answers, transcript, chat
    -- history); NULL until answered.
    state           jsonb,
    -- LLM agents: tokens the model used in this call.
    prompt_tokens   integer     NOT NULL DEFAULT 0,
    completion_tokens integer   NOT NULL DEFAULT 0,
    -- Prompts produced so far: the Gather of turn n posts to …/turns/n.
    turn            integer     NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'ended')),
    -- completed, end_call, unanswered, hangup, no-answer, busy, failed, timeout.
    outcome         text,
    version         integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The call's first request: the time limit counts from here.
    answered_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz
);
CREATE INDEX voice_sessions_active_idx ON switchboard.voice_sessions (created_at) WHERE status <> 'ended';

CREATE TABLE switchboard.voice_turns (
    session_id      bigint      NOT NULL REFERENCES switchboard.voice_sessions (id) ON DELETE CASCADE,
    turn            integer     NOT NULL,
    twiml           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, turn)
);
