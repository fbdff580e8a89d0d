-- Switchboard 0024: call recordings (issue 13).
--
-- A `voice` or `voice_agent` job with "record": true asks Twilio to record the call; Twilio posts
-- the recording's status to the webhook (RecordingStatusCallback), which keeps what it said here,
-- puts `recordingUrl` in the job's result and emits `recording.completed`. The audio stays at
-- Twilio: it is never fetched into this database. `switchboard recordings delete` removes it at
-- Twilio and marks the row deleted (privacy requests).
CREATE TABLE switchboard.recordings (
    sid          text        PRIMARY KEY CHECK (sid ~ '^RE[0-9a-fA-F]{32}$'),
    account_id   bigint      NOT NULL REFERENCES switchboard.accounts (id),
    call_sid     text        NOT NULL CHECK (call_sid ~ '^CA[0-9a-fA-F]{32}$'),
    -- The job that placed the call, when it was ours.
    job_id       bigint,
    -- completed, absent (nothing to record), failed, or deleted (by `recordings delete`).
    status       text        NOT NULL CHECK (status IN ('in-progress', 'completed', 'absent', 'failed', 'deleted')),
    duration_s   integer     CHECK (duration_s >= 0),
    channels     integer     CHECK (channels IN (1, 2)),
    -- How it was started: OutboundAPI, DialVerb, RecordVerb…
    source       text,
    -- Where Twilio serves the audio (append .mp3 or .wav); NULL once deleted.
    media_url    text,
    error_code   integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
CREATE INDEX recordings_call_idx ON switchboard.recordings (call_sid);
CREATE INDEX recordings_job_idx ON switchboard.recordings (job_id) WHERE job_id IS NOT NULL;
