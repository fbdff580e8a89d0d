-- Switchboard 0006: pool reservations that stay balanced under many concurrent reservers, and a
-- batched form that books many messages' slots in one transaction.
--
-- Why: under READ COMMITTED, `ORDER BY tat … FOR UPDATE` orders by the statement's snapshot. A
-- reserver that waits for (or races) another's booking then books a sender that is no longer the
-- least booked. With 60 concurrent reservers on a pool of 5 this left one sender 4 to 16 s ahead of
-- the others after 300 bookings (pgbench; see PoolReservationTests). Now reservations on one pool
-- take turns on a transaction-scoped advisory lock: the lock is released only after the holder's
-- commit is visible, so each chooser sees every earlier booking. Workers book a whole batch of
-- messages per turn (`reserve_pool_senders`), so a turn costs one transaction for many messages.

-- Books one message on a pool whose lock the caller holds. Sticky sender (and only that one),
-- else prefer the recipient's country calling code, then NANP area code, then the least booked.
CREATE FUNCTION switchboard.reserve_in_locked_pool(
    p_pool bigint, p_recipient text, p_country integer, p_area text, p_capability text,
    p_segments double precision, p_horizon double precision
) RETURNS TABLE (sender_id bigint, address text, slot timestamptz, next_free timestamptz, rate double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_sticky bigint;
    v_use_sticky boolean;
    v_chosen bigint;
BEGIN
    SELECT p.sticky INTO v_use_sticky FROM switchboard.pools p WHERE p.id = p_pool;
    IF v_use_sticky THEN
        SELECT st.sender_id INTO v_sticky
        FROM switchboard.sticky_senders st JOIN switchboard.senders s ON s.id = st.sender_id
        WHERE st.pool_id = p_pool AND st.recipient = p_recipient AND s.enabled AND p_capability = ANY (s.capabilities);
    END IF;
    SELECT s.id INTO v_chosen
    FROM switchboard.pool_senders ps JOIN switchboard.senders s ON s.id = ps.sender_id
    WHERE ps.pool_id = p_pool AND s.enabled AND p_capability = ANY (s.capabilities)
      AND (v_sticky IS NULL OR s.id = v_sticky)
      AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
    ORDER BY (s.country_code = p_country) DESC NULLS LAST, (s.area_code = p_area) DESC NULLS LAST,
             greatest(s.tat, now()) + p_segments / s.rate * interval '1 second', s.id
    LIMIT 1;
    IF v_chosen IS NOT NULL THEN
        -- A direct send from this number (`reserve_sender`) may have booked it meanwhile: the
        -- row lock taken here orders us after it, and the capacity is checked again.
        RETURN QUERY
        UPDATE switchboard.senders s
        SET tat = greatest(s.tat, now()) + p_segments / s.rate * interval '1 second'
        WHERE s.id = v_chosen
          AND greatest(s.tat, now()) <= now() + greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'
        RETURNING s.id, s.address, s.tat - p_segments / s.rate * interval '1 second', NULL::timestamptz, s.rate;
        IF FOUND THEN
            IF v_use_sticky AND v_sticky IS NULL THEN
                INSERT INTO switchboard.sticky_senders (pool_id, recipient, sender_id)
                VALUES (p_pool, p_recipient, v_chosen)
                ON CONFLICT (pool_id, recipient) DO UPDATE SET sender_id = excluded.sender_id, updated_at = now();
            END IF;
            RETURN;
        END IF;
    END IF;
    -- Saturated: when does the first candidate free up? (NULL with no candidate at all.)
    RETURN QUERY
    SELECT NULL::bigint, NULL::text, NULL::timestamptz,
           min(greatest(s.tat, now()) - greatest(p_horizon, (s.burst - 1) / s.rate) * interval '1 second'),
           NULL::double precision
    FROM switchboard.pool_senders ps JOIN switchboard.senders s ON s.id = ps.sender_id
    WHERE ps.pool_id = p_pool AND s.enabled AND p_capability = ANY (s.capabilities)
      AND (v_sticky IS NULL OR s.id = v_sticky);
END;
$$;

-- A pool's turn: held until the transaction ends. (Two-key advisory locks with this first key
-- belong to pools; 0x53574250 is "SWBP".)
CREATE FUNCTION switchboard.lock_pool(p_pool bigint) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(1398227536, p_pool::integer) $$;

-- The one-message form (kept for producers and tools that call it): takes the pool's turn.
CREATE OR REPLACE FUNCTION switchboard.reserve_pool_sender(
    p_pool bigint, p_recipient text, p_country integer, p_area text, p_capability text,
    p_segments double precision, p_horizon double precision
) RETURNS TABLE (sender_id bigint, address text, slot timestamptz, next_free timestamptz, rate double precision)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM switchboard.lock_pool(p_pool);
    -- A new statement: its snapshot sees every booking committed before our turn.
    RETURN QUERY SELECT * FROM switchboard.reserve_in_locked_pool(
        p_pool, p_recipient, p_country, p_area, p_capability, p_segments, p_horizon);
END;
$$;

-- Many messages' slots in one transaction (the arrays are parallel, one element per message):
-- one row per message with its ordinal (1-based), booked in array order. Pools are locked in id
-- order first, so two batches never deadlock.
CREATE FUNCTION switchboard.reserve_pool_senders(
    p_pools bigint[], p_recipients text[], p_countries integer[], p_areas text[], p_capabilities text[],
    p_segments double precision[], p_horizon double precision
) RETURNS TABLE (
    ordinal integer, sender_id bigint, address text, slot timestamptz, next_free timestamptz, rate double precision
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM switchboard.lock_pool(p) FROM (SELECT DISTINCT unnest(p_pools) AS p ORDER BY 1) AS pools;
    FOR i IN 1 .. coalesce(cardinality(p_pools), 0) LOOP
        RETURN QUERY SELECT i, r.*
        FROM switchboard.reserve_in_locked_pool(p_pools[i], p_recipients[i], p_countries[i], p_areas[i],
                                                p_capabilities[i], p_segments[i], p_horizon) r;
    END LOOP;
END;
$$;
