-- Switchboard 0025: inbound calls answered by voice agents (issue 13).
--
-- An agent is a stored voice-agent definition (a questions flow or an LLM agent, as a
-- `voice_agent` job's fields without `to` and `from`). A number, or every number of a pool, is
-- bound to one; when someone calls it, Twilio's "A call comes in" webhook opens a session for the
-- caller and runs the agent, and the outcome lands in a job row like an outbound agent call's.
CREATE TABLE switchboard.agents (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES switchboard.accounts (id) ON DELETE CASCADE,
    name        text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    -- The definition as given (checked when stored, rendered per call with the caller's and the
    -- called number as {{caller}} and {{called}}).
    definition  jsonb       NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

-- A number (address) or a pool, bound to an agent; a number's own binding wins over its pool's.
CREATE TABLE switchboard.agent_bindings (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    bigint      NOT NULL REFERENCES switchboard.agents (id) ON DELETE CASCADE,
    account_id  bigint      NOT NULL REFERENCES switchboard.accounts (id) ON DELETE CASCADE,
    address     text,
    pool_id     bigint      REFERENCES switchboard.pools (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_bindings_one_target CHECK ((address IS NULL) <> (pool_id IS NULL))
);
CREATE UNIQUE INDEX agent_bindings_address_idx ON switchboard.agent_bindings (account_id, address)
    WHERE address IS NOT NULL;
CREATE UNIQUE INDEX agent_bindings_pool_idx ON switchboard.agent_bindings (pool_id) WHERE pool_id IS NOT NULL;

-- Calls someone made to one of our numbers.
ALTER TABLE switchboard.calls DROP CONSTRAINT calls_origin_check,
    ADD CONSTRAINT calls_origin_check CHECK (origin IN ('created', 'reconciled', 'inbound'));
