-- Switchboard 0003: senders with per-number rate limits (GCRA, enforced here so they hold across
-- every worker on every host), number pools with sticky senders, and handler-owned job metadata.

-- State a handler keeps across attempts of one job (e.g. a reserved send slot while it waits).
ALTER TABLE switchboard.jobs ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';

-- A number (or short code, toll-free number, WhatsApp sender) of an account.
CREATE TABLE switchboard.senders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    -- As Twilio writes it in From: +15551234567, whatsapp:+15551234567, or a short code.
    address         text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('long_code', 'toll_free', 'short_code', 'whatsapp', 'alphanumeric')),
    capabilities    text[]      NOT NULL DEFAULT '{sms}'
                    CHECK (capabilities <@ ARRAY['sms', 'mms', 'voice', 'whatsapp']::text[] AND cardinality(capabilities) > 0),
    -- Throughput in segments per second, and how many segments may be reserved ahead (burst).
    rate            double precision NOT NULL CHECK (rate > 0),
    burst           double precision NOT NULL DEFAULT 1 CHECK (burst >= 1),
    -- GCRA theoretical arrival time: the sender is booked until then.
    tat             timestamptz NOT NULL DEFAULT '-infinity',
    country_code    integer,
    area_code       text,
    enabled         boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, address)
);

-- A set of senders used together, like a Twilio Messaging Service.
CREATE TABLE switchboard.pools (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id),
    name            text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    sticky          boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

CREATE TABLE switchboard.pool_senders (
    pool_id         bigint      NOT NULL REFERENCES switchboard.pools (id) ON DELETE CASCADE,
    sender_id       bigint      NOT NULL REFERENCES switchboard.senders (id) ON DELETE CASCADE,
    PRIMARY KEY (pool_id, sender_id)
);
CREATE INDEX pool_senders_sender_idx ON switchboard.pool_senders (sender_id);

-- Sticky sender: the number that last wrote to a recipient through a pool keeps writing to them.
CREATE TABLE switchboard.sticky_senders (
    pool_id         bigint      NOT NULL REFERENCES switchboard.pools (id) ON DELETE CASCADE,
    recipient       text        NOT NULL,
    sender_id       bigint      NOT NULL REFERENCES switchboard.senders (id) ON DELETE CASCADE,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, recipient)
);

-- Reserves `segments` on one sender: books the next slot and returns when it is. A sender may be
-- booked up to `horizon` seconds ahead (at least its burst); beyond that nothing is reserved and
-- `next_free` says when to ask again.
CREATE FUNCTION switchboard.reserve_sender(p_sender bigint, p_segments double precision, p_horizon double precision)
RETURNS TABLE (sender_id bigint, address text, slot timestamptz, next_free timestamptz, rate double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    UPDATE switchboard.senders s
    SET tat = greatest(s.tat, now()) + p_segments / s.rate * interval '1 second'
    WHERE s.id = p_sender AND s.enabled
      AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
    RETURNING s.id, s.address, s.tat - p_segments / s.rate * interval '1 second', NULL::timestamptz, s.rate;
    IF NOT FOUND THEN
        RETURN QUERY SELECT s.id, s.address, NULL::timestamptz,
            greatest(s.tat, now()) - greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second', s.rate
        FROM switchboard.senders s WHERE s.id = p_sender;
    END IF;
END;
$$;

-- Reserves `segments` on the best sender of a pool that has `capability`: the recipient's sticky
-- sender if it has one (and only that one), else prefer the recipient's country calling code,
-- then NANP area code, then the least booked sender. Senders locked by concurrent reservations
-- are skipped, so workers spread over the pool instead of queueing on one row.
CREATE FUNCTION switchboard.reserve_pool_sender(
    p_pool bigint, p_recipient text, p_country integer, p_area text, p_capability text,
    p_segments double precision, p_horizon double precision
) RETURNS TABLE (sender_id bigint, address text, slot timestamptz, next_free timestamptz, rate double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_sticky bigint;
    v_use_sticky boolean;
    v_chosen bigint;
    v_attempt integer := 0;
BEGIN
    SELECT p.sticky INTO v_use_sticky FROM switchboard.pools p WHERE p.id = p_pool;
    IF v_use_sticky THEN
        -- Two messages to one recipient reserved at the same moment must agree on the sender:
        -- serialise per (pool, recipient) until this transaction commits its sticky row.
        PERFORM pg_advisory_xact_lock(p_pool::integer, hashtext(p_recipient));
        SELECT st.sender_id INTO v_sticky
        FROM switchboard.sticky_senders st JOIN switchboard.senders s ON s.id = st.sender_id
        WHERE st.pool_id = p_pool AND st.recipient = p_recipient AND s.enabled AND p_capability = ANY (s.capabilities);
    END IF;
    LOOP
        v_attempt := v_attempt + 1;
        -- First skip senders that concurrent reservations hold; if all are held, wait for one.
        IF v_attempt = 1 THEN
            SELECT s.id INTO v_chosen
            FROM switchboard.pool_senders ps JOIN switchboard.senders s ON s.id = ps.sender_id
            WHERE ps.pool_id = p_pool AND s.enabled AND p_capability = ANY (s.capabilities)
              AND (v_sticky IS NULL OR s.id = v_sticky)
              AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
            ORDER BY (s.country_code = p_country) DESC NULLS LAST, (s.area_code = p_area) DESC NULLS LAST,
                     greatest(s.tat, now()) + p_segments / s.rate * interval '1 second', s.id
            LIMIT 1
            FOR UPDATE OF s SKIP LOCKED;
        ELSE
            SELECT s.id INTO v_chosen
            FROM switchboard.pool_senders ps JOIN switchboard.senders s ON s.id = ps.sender_id
            WHERE ps.pool_id = p_pool AND s.enabled AND p_capability = ANY (s.capabilities)
              AND (v_sticky IS NULL OR s.id = v_sticky)
              AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
            ORDER BY greatest(s.tat, now()), s.id
            LIMIT 1
            FOR UPDATE OF s;
        END IF;
        IF v_chosen IS NULL THEN
            EXIT WHEN v_attempt >= 2;
            CONTINUE;
        END IF;
        -- The row may have been booked while we waited for its lock: check capacity again.
        RETURN QUERY
        UPDATE switchboard.senders s
        SET tat = greatest(s.tat, now()) + p_segments / s.rate * interval '1 second'
        WHERE s.id = v_chosen
          AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
        RETURNING s.id, s.address, s.tat - p_segments / s.rate * interval '1 second', NULL::timestamptz, s.rate;
        IF NOT FOUND THEN
            v_chosen := NULL;
            EXIT WHEN v_attempt >= 3;
            CONTINUE;
        END IF;
        IF v_use_sticky AND v_sticky IS NULL THEN
            INSERT INTO switchboard.sticky_senders (pool_id, recipient, sender_id) VALUES (p_pool, p_recipient, v_chosen)
            ON CONFLICT (pool_id, recipient) DO UPDATE SET sender_id = excluded.sender_id, updated_at = now();
        END IF;
        RETURN;
    END LOOP;
    -- Saturated (or every candidate is being reserved right now): when does the first one free up?
    RETURN QUERY
    SELECT NULL::bigint, NULL::text, NULL::timestamptz,
           min(greatest(s.tat, now()) - greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'),
           NULL::double precision
    FROM switchboard.pool_senders ps JOIN switchboard.senders s ON s.id = ps.sender_id
    WHERE ps.pool_id = p_pool AND s.enabled AND p_capability = ANY (s.capabilities)
      AND (v_sticky IS NULL OR s.id = v_sticky);
END;
$$;

-- Calls per second per account (Twilio: 1 by default).
ALTER TABLE switchboard.accounts
    ADD COLUMN calls_per_second double precision NOT NULL DEFAULT 1 CHECK (calls_per_second > 0),
    ADD COLUMN calls_tat timestamptz NOT NULL DEFAULT '-infinity';
