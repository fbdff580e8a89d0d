-- Switchboard 0027: what every message and call cost (issue 14).
--
-- Twilio's create answer carries no price, and neither do status callbacks: the price appears on
-- the message or call resource some time after it is sent. When a message or call first reaches
-- a final status, the status callback's transaction files a price check; a pricer in every
-- worker process takes due checks (leased, so hosts share the work), asks Twilio (the list
-- endpoint by sender and day for many messages at once, single fetches otherwise), records the
-- price on the row, in the job's result, in the daily cost totals and as an event, and backs
-- off while Twilio still answers null, until a give-up age marks the price unknown.
--
-- Also: messages carry their campaign (reports read a campaign's messages by one index range)
-- and the times they were sent and delivered (the report's delivery-time percentiles).

ALTER TABLE switchboard.messages
    ADD COLUMN campaign_id  bigint,
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN delivered_at timestamptz;
-- The same columns in the same order: the archiver copies rows by name.
ALTER TABLE switchboard.message_history
    ADD COLUMN campaign_id  bigint,
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN delivered_at timestamptz;

-- Campaign messages sent before this migration: their campaign from their job's payload.
UPDATE switchboard.messages m SET campaign_id = (j.payload ->> 'campaignId')::bigint
FROM switchboard.jobs j WHERE j.id = m.job_id AND j.payload ? 'campaignId';
UPDATE switchboard.messages m SET campaign_id = (j.payload ->> 'campaignId')::bigint
FROM switchboard.job_history j WHERE j.id = m.job_id AND j.payload ? 'campaignId' AND m.campaign_id IS NULL;
UPDATE switchboard.message_history m SET campaign_id = (j.payload ->> 'campaignId')::bigint
FROM switchboard.jobs j WHERE j.id = m.job_id AND j.payload ? 'campaignId';
UPDATE switchboard.message_history m SET campaign_id = (j.payload ->> 'campaignId')::bigint
FROM switchboard.job_history j WHERE j.id = m.job_id AND j.payload ? 'campaignId' AND m.campaign_id IS NULL;

CREATE INDEX messages_campaign_idx ON switchboard.messages (campaign_id, created_at)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX message_history_campaign_idx ON switchboard.message_history (campaign_id, created_at)
    WHERE campaign_id IS NOT NULL;

CREATE OR REPLACE VIEW switchboard.all_messages AS
    SELECT id, sid, job_id, account_id, channel, to_address, from_address, messaging_service_sid, body, segments,
           status, error_code, price, price_unit, origin, created_at, updated_at, status_at,
           campaign_id, sent_at, delivered_at
    FROM switchboard.messages
    UNION ALL
    SELECT id, sid, job_id, account_id, channel, to_address, from_address, messaging_service_sid, body, segments,
           status, error_code, price, price_unit, origin, created_at, updated_at, status_at,
           campaign_id, sent_at, delivered_at
    FROM switchboard.message_history;

-- Calls had a price column and no currency.
ALTER TABLE switchboard.calls ADD COLUMN price_unit text;

-- One row per message or call whose price is not known yet. Written once, updated a few times,
-- deleted when priced: a churning table, vacuumed eagerly.
CREATE TABLE switchboard.price_checks (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource        text        NOT NULL CHECK (resource IN ('message', 'call')),
    sid             text        NOT NULL,
    account_id      bigint      NOT NULL REFERENCES switchboard.accounts (id) ON DELETE CASCADE,
    -- The sender (messages through a Messaging Service may have none): the list filter.
    from_address    text,
    -- When Twilio created it: the list endpoint's DateSent day, and where paging may stop.
    created_at      timestamptz NOT NULL,
    -- When it reached a final status: the give-up age counts from here.
    final_at        timestamptz NOT NULL DEFAULT now(),
    -- Due again then; a pricer taking the row pushes it out by its lease.
    next_check_at   timestamptz NOT NULL,
    checks          integer     NOT NULL DEFAULT 0 CHECK (checks >= 0),
    -- Twilio had no price by the give-up age: kept (reports count them as unknown), never checked again.
    gave_up_at      timestamptz,
    UNIQUE (resource, sid)
) WITH (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    fillfactor = 80
);
CREATE INDEX price_checks_due_idx ON switchboard.price_checks (next_check_at) WHERE gave_up_at IS NULL;

-- Costs added up as prices arrive: per UTC day (of the message's creation), account, sender,
-- campaign (0: none) and currency. `cost` is what was charged: Twilio's price negated (Twilio
-- writes a charge as a negative price).
CREATE TABLE switchboard.cost_totals (
    day             date        NOT NULL,
    account_id      bigint      NOT NULL,
    resource        text        NOT NULL CHECK (resource IN ('message', 'call')),
    sender          text        NOT NULL DEFAULT '',
    campaign_id     bigint      NOT NULL DEFAULT 0,
    price_unit      text        NOT NULL,
    priced          bigint      NOT NULL DEFAULT 0,
    cost            numeric     NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id, resource, sender, campaign_id, price_unit)
);
CREATE INDEX cost_totals_campaign_idx ON switchboard.cost_totals (campaign_id) WHERE campaign_id <> 0;

-- Files a price check for a message or call that just reached a final status (nothing when one
-- is filed already). Called in the status callback's transaction.
CREATE FUNCTION switchboard.want_price(
    p_resource text, p_sid text, p_account_id bigint, p_from text, p_created_at timestamptz, p_first_check interval
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO switchboard.price_checks (resource, sid, account_id, from_address, created_at, next_check_at)
    VALUES (p_resource, p_sid, p_account_id, p_from, p_created_at, now() + p_first_check)
    ON CONFLICT (resource, sid) DO NOTHING;
$$;

-- Records prices Twilio published: on the row (hot or history; a row the archiver moved
-- meanwhile is found on the next pass), in the job's result (`messageCost`/`callCost` and
-- `priceUnit`), in the cost totals, as a `message.priced`/`call.priced` event, and settles the
-- check. Returns the SIDs priced; a row that already had a price is left alone (never counted twice).
CREATE FUNCTION switchboard.record_prices(p_resource text, p_sids text[], p_prices numeric[], p_units text[])
RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    priced text[] := '{}';
    days date[] := '{}';
    accounts bigint[] := '{}';
    senders text[] := '{}';
    campaigns bigint[] := '{}';
    units text[] := '{}';
    costs numeric[] := '{}';
    cost_key text := CASE p_resource WHEN 'message' THEN 'messageCost' ELSE 'callCost' END;
BEGIN
    FOR r IN
        WITH input AS (
            SELECT * FROM unnest(p_sids, p_prices, p_units) AS i(sid, price, unit)
        ), hot_messages AS (
            UPDATE switchboard.messages m SET price = i.price, price_unit = i.unit, updated_at = now()
            FROM input i WHERE p_resource = 'message' AND m.sid = i.sid AND m.price IS NULL
            RETURNING m.sid, m.job_id, m.account_id, m.campaign_id, coalesce(m.from_address, m.messaging_service_sid, '') AS sender,
                      m.created_at, m.to_address, m.from_address, i.price, i.unit
        ), old_messages AS (
            UPDATE switchboard.message_history m SET price = i.price, price_unit = i.unit, updated_at = now()
            FROM input i WHERE p_resource = 'message' AND m.sid = i.sid AND m.price IS NULL
              AND i.sid NOT IN (SELECT sid FROM hot_messages)
            RETURNING m.sid, m.job_id, m.account_id, m.campaign_id, coalesce(m.from_address, m.messaging_service_sid, '') AS sender,
                      m.created_at, m.to_address, m.from_address, i.price, i.unit
        ), calls AS (
            UPDATE switchboard.calls c SET price = i.price, price_unit = i.unit, updated_at = now()
            FROM input i WHERE p_resource = 'call' AND c.sid = i.sid AND c.price IS NULL
            RETURNING c.sid, c.job_id, c.account_id, NULL::bigint AS campaign_id, c.from_address AS sender,
                      c.created_at, c.to_address, c.from_address, i.price, i.unit
        )
        SELECT * FROM hot_messages UNION ALL SELECT * FROM old_messages UNION ALL SELECT * FROM calls
    LOOP
        priced := priced || r.sid;
        days := days || (r.created_at AT TIME ZONE 'UTC')::date;
        accounts := accounts || r.account_id;
        senders := senders || r.sender;
        campaigns := campaigns || coalesce(r.campaign_id, 0);
        units := units || r.unit;
        costs := costs || -r.price;
        IF r.job_id IS NOT NULL THEN
            PERFORM switchboard.merge_job_result(r.job_id, '{}'::jsonb,
                jsonb_build_object(cost_key, r.price::text, 'priceUnit', r.unit, 'priceStatus', 'priced'));
        END IF;
        PERFORM switchboard.emit_event(p_resource || '.priced', p_resource || ':' || r.sid, r.account_id,
            jsonb_build_object('sid', r.sid, 'to', r.to_address, 'from', r.from_address, 'price', r.price::text,
                               'priceUnit', r.unit, 'priceStatus', 'priced'),
            r.job_id);
    END LOOP;
    INSERT INTO switchboard.cost_totals AS t (day, account_id, resource, sender, campaign_id, price_unit, priced, cost)
    SELECT day, account_id, p_resource, sender, campaign_id, unit, count(*), sum(cost)
    FROM unnest(days, accounts, senders, campaigns, units, costs) AS u(day, account_id, sender, campaign_id, unit, cost)
    GROUP BY day, account_id, sender, campaign_id, unit
    ON CONFLICT (day, account_id, resource, sender, campaign_id, price_unit)
    DO UPDATE SET priced = t.priced + excluded.priced, cost = t.cost + excluded.cost;
    DELETE FROM switchboard.price_checks WHERE resource = p_resource AND sid = ANY (priced);
    RETURN priced;
END;
$$;

-- Twilio had no price for these checks by the give-up age: the check is kept, marked; the job's
-- result says `priceStatus: unknown`, and a `*.priced` event with a null price tells subscribers
-- to stop waiting.
CREATE FUNCTION switchboard.give_up_prices(p_ids bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    marked integer := 0;
BEGIN
    FOR r IN
        WITH marked AS (
            UPDATE switchboard.price_checks SET gave_up_at = now()
            WHERE id = ANY (p_ids) AND gave_up_at IS NULL
            RETURNING resource, sid, account_id
        )
        SELECT k.resource, k.sid, k.account_id, m.job_id, m.to_address, m.from_address
        FROM marked k
        LEFT JOIN LATERAL (
            SELECT job_id, to_address, from_address FROM switchboard.all_messages
            WHERE k.resource = 'message' AND sid = k.sid
            UNION ALL
            SELECT job_id, to_address, from_address FROM switchboard.calls WHERE k.resource = 'call' AND sid = k.sid
            LIMIT 1
        ) m ON true
    LOOP
        marked := marked + 1;
        IF r.job_id IS NOT NULL THEN
            PERFORM switchboard.merge_job_result(r.job_id, '{}'::jsonb, jsonb_build_object('priceStatus', 'unknown'));
        END IF;
        PERFORM switchboard.emit_event(r.resource || '.priced', r.resource || ':' || r.sid, r.account_id,
            jsonb_build_object('sid', r.sid, 'to', r.to_address, 'from', r.from_address, 'price', NULL,
                               'priceUnit', NULL, 'priceStatus', 'unknown'),
            r.job_id);
    END LOOP;
    RETURN marked;
END;
$$;
