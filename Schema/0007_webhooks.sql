-- Switchboard 0007: what the webhook process records — delivery statuses that arrive before the
-- send's row exists, inbound messages and the replies bound to outbound ones, and the auth token
-- that signs an API-key account's webhooks.

-- Twilio signs webhooks with the account's auth token. An account added with an API key keeps the
-- key's secret in secret_sealed, so its auth token is sealed here (same key ring, same AAD).
ALTER TABLE switchboard.accounts
    ADD COLUMN webhook_token_sealed bytea,
    ADD COLUMN webhook_token_key_id text;

-- A status callback for a SID not recorded yet (the callback outran the worker's insert). The
-- worker applies and deletes it when it records the message or call.
CREATE TABLE switchboard.pending_statuses (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource        text        NOT NULL CHECK (resource IN ('message', 'call')),
    sid             text        NOT NULL,
    status          text        NOT NULL,
    error_code      integer,
    duration_s      integer,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_statuses_sid_idx ON switchboard.pending_statuses (sid);
CREATE INDEX pending_statuses_received_idx ON switchboard.pending_statuses (received_at);

ALTER TABLE switchboard.messages ADD COLUMN status_at timestamptz;
ALTER TABLE switchboard.calls
    ADD COLUMN error_code integer,
    ADD COLUMN status_at timestamptz;

-- Messages people sent to our numbers.
CREATE TABLE switchboard.inbound_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid             text        NOT NULL UNIQUE,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    from_address    text        NOT NULL,
    to_address      text        NOT NULL,
    body            text        NOT NULL DEFAULT '',
    media_urls      text[]      NOT NULL DEFAULT '{}',
    -- opt_out / opt_in / help for keyword messages; NULL for replies.
    intent          text        CHECK (intent IN ('opt_out', 'opt_in', 'help')),
    -- The outbound message this one answers (the latest to this person from this number or its
    -- pool within the reply window), and its job.
    reply_to_sid    text,
    job_id          bigint,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_messages_job_idx ON switchboard.inbound_messages (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX messages_pair_idx ON switchboard.messages (to_address, from_address, created_at DESC);
