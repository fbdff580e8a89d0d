-- Switchboard 0020: carrier-aware pacing for US A2P 10DLC (issue 15).
--
-- US carriers meter registered 10DLC traffic beyond each number's throughput: AT&T per campaign
-- per minute, T-Mobile per brand per day (resetting at midnight US Pacific), and each major
-- carrier at a campaign's MPS. Twilio lets over-cap messages fail (30022, 30023) and bills them.
-- Here a send to a US number from a sender (or pool) assigned to a registered 10DLC campaign
-- first books a slot in its {campaign × carrier} budget and counts against its {brand × carrier
-- × day} cap; work over a cap waits for the next window (the next Pacific day for a daily cap),
-- it is never sent to fail. The recipient's carrier comes from Twilio Lookup, cached per number.

-- The published numbers, as data a user edits (carriers and vendors publish slightly different
-- bands; update a row, or give a brand or campaign its own numbers). Messages per minute are
-- segments per minute; `per_carrier_per_minute` is each of AT&T (its TPM), T-Mobile and Verizon
-- (their MPS × 60), `minor_carrier_per_minute` every other carrier (at most 10 MPS).
CREATE TABLE switchboard.ten_dlc_classes (
    class                     text    PRIMARY KEY CHECK (class ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    description               text    NOT NULL,
    per_carrier_per_minute    integer NOT NULL CHECK (per_carrier_per_minute > 0),
    minor_carrier_per_minute  integer NOT NULL CHECK (minor_carrier_per_minute > 0),
    tmobile_per_day           integer CHECK (tmobile_per_day > 0)
);

COMMENT ON TABLE switchboard.ten_dlc_classes IS
    'Published US A2P 10DLC limits by brand Trust Score / campaign class; edit to match what your registration was granted.';

-- Sources: Twilio "Message throughput (MPS) and Trust Scores for A2P 10DLC in the US"; AT&T class
-- TPM (Telnyx 10DLC rate limits); T-Mobile daily caps by score tier (Twilio support).
INSERT INTO switchboard.ten_dlc_classes VALUES
    ('standard_75', 'Standard brand, Trust Score 75-100 (AT&T class A/B): 75 MPS per carrier, 4,500 TPM, T-Mobile 200,000/day', 4500, 600, 200000),
    ('standard_50', 'Standard brand, Trust Score 50-74 (AT&T class C/D): 40 MPS per carrier, 2,400 TPM, T-Mobile 40,000/day', 2400, 600, 40000),
    ('standard_1', 'Standard brand, Trust Score 1-49 (AT&T class E/F): 4 MPS per carrier, 240 TPM, T-Mobile 10,000/day', 240, 240, 10000),
    ('low_volume', 'Low Volume Standard / Low Volume Mixed (AT&T class T): 75 TPM, T-Mobile 2,000/day', 75, 75, 2000),
    ('sole_proprietor', 'Sole Proprietor: 1 MPS, AT&T 15 per minute, T-Mobile 1,000/day', 15, 15, 1000);

-- A registered brand (TCR): its T-Mobile daily cap is shared by all its campaigns.
CREATE TABLE switchboard.brands (
    id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       bigint  NOT NULL REFERENCES switchboard.accounts (id),
    name             text    NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    -- NULL: no daily cap (a brand exempt from it, or one not sending to T-Mobile).
    tmobile_per_day  integer CHECK (tmobile_per_day > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

-- A registered 10DLC campaign (use case) of a brand: its per-carrier budgets.
CREATE TABLE switchboard.ten_dlc_campaigns (
    id                        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id                  bigint  NOT NULL REFERENCES switchboard.brands (id) ON DELETE CASCADE,
    name                      text    NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    class                     text    REFERENCES switchboard.ten_dlc_classes (class) ON UPDATE CASCADE ON DELETE SET NULL,
    per_carrier_per_minute    integer NOT NULL CHECK (per_carrier_per_minute > 0),
    minor_carrier_per_minute  integer NOT NULL CHECK (minor_carrier_per_minute > 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (brand_id, name)
);

-- Which registered campaign a number's traffic runs under (a direct send From it), and a pool's
-- (like a Messaging Service linked to an A2P campaign; a pooled send uses the pool's).
ALTER TABLE switchboard.senders
    ADD COLUMN ten_dlc_campaign_id bigint REFERENCES switchboard.ten_dlc_campaigns (id) ON DELETE SET NULL;
ALTER TABLE switchboard.pools
    ADD COLUMN ten_dlc_campaign_id bigint REFERENCES switchboard.ten_dlc_campaigns (id) ON DELETE SET NULL;

-- Each {campaign × carrier} budget's GCRA time: booked until then.
CREATE TABLE switchboard.carrier_budgets (
    ten_dlc_campaign_id  bigint      NOT NULL REFERENCES switchboard.ten_dlc_campaigns (id) ON DELETE CASCADE,
    carrier              text        NOT NULL,
    tat                  timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (ten_dlc_campaign_id, carrier)
);

-- Segments booked per {brand × carrier × Pacific day}, against the brand's daily cap.
CREATE TABLE switchboard.brand_daily_counts (
    brand_id  bigint  NOT NULL REFERENCES switchboard.brands (id) ON DELETE CASCADE,
    carrier   text    NOT NULL,
    day       date    NOT NULL,
    segments  bigint  NOT NULL DEFAULT 0 CHECK (segments >= 0),
    PRIMARY KEY (brand_id, carrier, day)
);

-- The carrier of a number, from Twilio Lookup (line_type_intelligence), with its age: numbers
-- move between carriers, so an entry older than the cache's limit is looked up again.
CREATE TABLE switchboard.carrier_lookups (
    phone         text        PRIMARY KEY,
    -- att, tmobile, verizon, other (a minor carrier), unknown (Lookup could not tell)
    carrier       text        NOT NULL CHECK (carrier IN ('att', 'tmobile', 'verizon', 'other', 'unknown')),
    carrier_name  text,
    line_type     text,
    mcc           text,
    mnc           text,
    looked_up_at  timestamptz NOT NULL DEFAULT now()
);

-- Books `p_units` segments to `p_carrier` under a registered campaign: the next slot of its
-- {campaign × carrier} budget, counted on its brand's Pacific day. Slots are spaced so that a
-- message sent within `p_tolerance` seconds after its slot keeps every window of `p_window`
-- seconds (a carrier meters per minute: 60) within the budget's share of it:
-- (window + tolerance) / (budget per minute × window / 60) seconds per segment. (Any n slots
-- spaced so span (n − 1) of those intervals; sends up to `tolerance` late fit n into a window
-- only if the window is at least that span less the tolerance.) A slot whose tolerance
-- would cross Pacific midnight moves to the next day, so a send is counted on the day it happens.
-- Answers the slot, or nothing booked and when to ask again with the cap that held it back
-- ('per_minute': booked beyond the horizon; 'per_day': the brand's cap for that day is spent).
CREATE FUNCTION switchboard.reserve_carrier_slot(
    p_campaign bigint, p_carrier text, p_units double precision, p_horizon double precision,
    p_tolerance double precision, p_window double precision DEFAULT 60
) RETURNS TABLE (slot timestamptz, retry_at timestamptz, held_by text, now timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    budget    integer;
    cap       integer;
    brand     bigint;
    booked    timestamptz;
    slot_at   timestamptz;
    pacific_day date;
    day_end   timestamptz;
    spent     bigint;
    t         timestamptz;
BEGIN
    SELECT CASE WHEN p_carrier IN ('att', 'tmobile', 'verizon') THEN c.per_carrier_per_minute
                ELSE c.minor_carrier_per_minute END,
           CASE WHEN p_carrier = 'tmobile' THEN b.tmobile_per_day END, b.id
    INTO budget, cap, brand
    FROM switchboard.ten_dlc_campaigns c JOIN switchboard.brands b ON b.id = c.brand_id
    WHERE c.id = p_campaign;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO switchboard.carrier_budgets (ten_dlc_campaign_id, carrier) VALUES (p_campaign, p_carrier)
    ON CONFLICT DO NOTHING;
    SELECT b.tat INTO booked FROM switchboard.carrier_budgets b
    WHERE b.ten_dlc_campaign_id = p_campaign AND b.carrier = p_carrier FOR UPDATE;
    -- The clock after the lock: the wait for it is not time already spent.
    t := clock_timestamp();
    slot_at := greatest(booked, t);
    IF slot_at > t + make_interval(secs => p_horizon) THEN
        RETURN QUERY SELECT NULL::timestamptz, slot_at - make_interval(secs => p_horizon), 'per_minute'::text, t;
        RETURN;
    END IF;
    IF cap IS NOT NULL THEN
        pacific_day := (slot_at AT TIME ZONE 'America/Los_Angeles')::date;
        day_end := (pacific_day + 1)::timestamp AT TIME ZONE 'America/Los_Angeles';
        IF slot_at + make_interval(secs => p_tolerance) >= day_end THEN
            RETURN QUERY SELECT NULL::timestamptz, day_end, 'per_day'::text, t;
            RETURN;
        END IF;
        INSERT INTO switchboard.brand_daily_counts AS d (brand_id, carrier, day) VALUES (brand, p_carrier, pacific_day)
        ON CONFLICT DO NOTHING;
        SELECT d.segments INTO spent FROM switchboard.brand_daily_counts d
        WHERE d.brand_id = brand AND d.carrier = p_carrier AND d.day = pacific_day FOR UPDATE;
        IF spent + p_units > cap THEN
            RETURN QUERY SELECT NULL::timestamptz, day_end, 'per_day'::text, t;
            RETURN;
        END IF;
        UPDATE switchboard.brand_daily_counts d SET segments = d.segments + p_units::bigint
        WHERE d.brand_id = brand AND d.carrier = p_carrier AND d.day = pacific_day;
    END IF;
    UPDATE switchboard.carrier_budgets b
    SET tat = slot_at + make_interval(secs => p_units * (p_window + p_tolerance) / (budget * p_window / 60))
    WHERE b.ten_dlc_campaign_id = p_campaign AND b.carrier = p_carrier;
    RETURN QUERY SELECT slot_at, NULL::timestamptz, NULL::text, t;
END;
$$;
