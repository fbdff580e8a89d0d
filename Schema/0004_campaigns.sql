-- Switchboard 0004: campaigns — one template sent to many imported recipients.

CREATE TABLE switchboard.campaigns (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    name            text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    channel         text        NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp')),
    -- The message as a MessageRequest JSON object without `to` and `variables` (validated on create).
    template        jsonb       NOT NULL,
    -- Campaign-wide cap in messages per second across all its senders (NULL: none), and its
    -- GCRA booking time.
    rate_cap        double precision CHECK (rate_cap > 0),
    tat             timestamptz NOT NULL DEFAULT '-infinity',
    -- active: sending; paused: jobs wait (checked before every send); cancelled: jobs end.
    state           text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'cancelled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

-- Each recipient once per campaign; `status` says whether a job was queued or why not.
CREATE TABLE switchboard.campaign_recipients (
    campaign_id     bigint      NOT NULL REFERENCES switchboard.campaigns (id) ON DELETE CASCADE,
    recipient       text        NOT NULL,
    line            integer     NOT NULL,
    status          text        NOT NULL CHECK (status IN ('queued', 'opted_out')),
    PRIMARY KEY (campaign_id, recipient)
);

-- Campaign jobs carry their campaign in the payload; pause/cancel/status find them by it.
CREATE INDEX jobs_campaign_idx ON switchboard.jobs (((payload ->> 'campaignId')::bigint))
    WHERE payload ? 'campaignId';
