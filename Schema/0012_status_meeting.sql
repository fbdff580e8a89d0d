-- Switchboard 0012: a status callback and the record of its message or call always meet.
--
-- A callback can arrive while the worker's insert of its message is still uncommitted: the webhook
-- finds no row and files the status in pending_statuses, while the insert's own look at
-- pending_statuses ran before that filing committed. Both commit and the status waits for ever
-- (write skew under READ COMMITTED; one message in 2,000 in the worker-kill drill stayed 'sent').
--
-- The two sides now meet on advisory locks keyed by the SID's bucket (first key 1398227539, "SWBS";
-- 64 buckets, so a batch of hundreds of SIDs takes at most 64 locks). The worker's insert holds its
-- SIDs' buckets shared until it commits and looks at pending_statuses only once it holds them; a
-- webhook that found no row takes its SID's bucket exclusively and looks for the row again before
-- filing. Whichever side comes second sees what the first committed. Workers never wait for each
-- other, and a webhook waits only while an insert into its bucket is in flight.

CREATE FUNCTION switchboard.status_bucket(p_sid text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext(p_sid) & 63 $$;

-- Called in the statement that inserts messages or calls, with the SIDs it inserted: is a status
-- callback waiting for one of them?
CREATE FUNCTION switchboard.statuses_waiting_for(p_sids text[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    bucket integer;
BEGIN
    FOR bucket IN SELECT DISTINCT switchboard.status_bucket(s) FROM unnest(p_sids) AS s ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(1398227539, bucket);
    END LOOP;
    -- Each statement of a VOLATILE function takes a new snapshot: this one sees every status filed
    -- before the locks were granted, even though the calling statement's snapshot is older.
    RETURN EXISTS (SELECT 1 FROM switchboard.pending_statuses WHERE sid = ANY (p_sids));
END $$;

-- Taken by a webhook that found no row for a callback, before it looks again and files the status.
CREATE FUNCTION switchboard.lock_status_bucket(p_sid text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(1398227539, switchboard.status_bucket(p_sid)) $$;
