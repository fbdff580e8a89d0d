-- Switchboard 0005: consent history. The suppression list says who must not be messaged now;
-- this keeps every opt-out and opt-in: when, in which scope, how, and the message that did it.

CREATE TABLE switchboard.consent_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          bigint      NOT NULL REFERENCES switchboard.accounts (id),
    address             text        NOT NULL,
    event               text        NOT NULL CHECK (event IN ('opt_out', 'opt_in')),
    scope               text        NOT NULL CHECK (scope IN ('account', 'sender', 'pool')),
    scope_value         text        NOT NULL DEFAULT '',
    -- keyword (STOP/START), api, import, twilio_error (21610).
    source              text        NOT NULL CHECK (source IN ('keyword', 'api', 'import', 'twilio_error')),
    reason              text,
    source_message_sid  text,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_address_idx ON switchboard.consent_events (account_id, address, created_at);
