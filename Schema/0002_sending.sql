-- Switchboard 0002: Twilio accounts (credentials encrypted at rest), sent messages and calls,
-- and the suppression list.

CREATE TABLE switchboard.accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What jobs call the account ("main"); unique.
    name            text        NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    account_sid     text        NOT NULL CHECK (account_sid ~ '^AC[0-9a-f]{32}$'),
    -- Basic-auth user when an API key is used instead of the auth token (SK…); NULL: account_sid.
    api_key_sid     text        CHECK (api_key_sid ~ '^SK[0-9a-f]{32}$'),
    -- AES-GCM sealed box (nonce ‖ ciphertext ‖ tag) of the auth token or API key secret, under the
    -- master key named by key_id. The additional authenticated data is the account SID.
    secret_sealed   bytea       NOT NULL,
    key_id          text        NOT NULL,
    -- Set when Twilio rejected the credentials (20003) or the account is unusable; sends fail
    -- fast until `switchboard accounts` clears it.
    flagged_at      timestamptz,
    flag_reason     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per message Twilio accepted: delivery tracking.
CREATE TABLE switchboard.messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid             text        NOT NULL UNIQUE,
    job_id          bigint,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    channel         text        NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    to_address      text        NOT NULL,
    from_address    text,
    messaging_service_sid text,
    body            text,
    segments        integer,
    status          text        NOT NULL,
    error_code      integer,
    price           numeric,
    price_unit      text,
    -- How the row was found: 'created' (Twilio answered the send) or 'reconciled' (an interrupted
    -- send was found in Twilio's message list and adopted instead of sending again).
    origin          text        NOT NULL DEFAULT 'created' CHECK (origin IN ('created', 'reconciled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_job_idx ON switchboard.messages (job_id);
CREATE INDEX messages_to_idx ON switchboard.messages (to_address, created_at DESC);

CREATE TABLE switchboard.calls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid             text        NOT NULL UNIQUE,
    job_id          bigint,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    to_address      text        NOT NULL,
    from_address    text        NOT NULL,
    status          text        NOT NULL,
    duration_s      integer,
    price           numeric,
    origin          text        NOT NULL DEFAULT 'created' CHECK (origin IN ('created', 'reconciled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_job_idx ON switchboard.calls (job_id);

-- Recipients who must not be messaged (opted out, or Twilio said 21610). Scope as Twilio scopes
-- opt-outs: the whole account, one sender, or one pool (Messaging Service).
CREATE TABLE switchboard.suppressions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    address         text        NOT NULL,
    scope           text        NOT NULL DEFAULT 'account' CHECK (scope IN ('account', 'sender', 'pool')),
    -- The sender number or pool name for those scopes; '' for the account.
    scope_value     text        NOT NULL DEFAULT '',
    reason          text        NOT NULL,
    -- How it came about: keyword (STOP), api, import, twilio_error (21610).
    source          text        NOT NULL CHECK (source IN ('keyword', 'api', 'import', 'twilio_error')),
    source_message_sid text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, address, scope, scope_value)
);
