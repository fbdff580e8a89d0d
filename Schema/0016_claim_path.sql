-- Switchboard 0016: only work that can start soon is in the claim path (issue 15).
--
-- A job due later than the scheduling horizon (5 seconds) is 'scheduled': it is in no index the
-- claim walks, and the stager makes it 'available' when it comes due. Before this, 600,000 jobs
-- dated later at a better priority made a claim of 100 take 196 ms instead of 2.5 ms, and a
-- million queued jobs of a kind no worker handles made every claim walk them all.

-- The horizon, in one place: enqueue(), the insert trigger, retries and snoozes (the worker's
-- finish statement) and the bulk COPY all ask it.
CREATE FUNCTION switchboard.scheduling_horizon() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '5 seconds' $$;

-- The claim walks one range of this index per kind it handles, in (priority, run_at, id) order,
-- so jobs of other kinds are never visited.
CREATE INDEX jobs_claim_idx ON switchboard.jobs (queue, kind, priority, run_at, id) WHERE state = 'available';
DROP INDEX switchboard.jobs_fetch_idx;
-- The stager: scheduled jobs by due time.
CREATE INDEX jobs_scheduled_idx ON switchboard.jobs (run_at) WHERE state = 'scheduled';

-- An idempotency key stays unique among live jobs, scheduled ones included. (An INSERT … ON
-- CONFLICT naming the old predicate still infers this index: the old one implies the new one.)
CREATE UNIQUE INDEX jobs_idempotency_key_live_idx2 ON switchboard.jobs (idempotency_key)
    WHERE state IN ('scheduled', 'available', 'running');
DROP INDEX switchboard.jobs_idempotency_key_live_idx;
ALTER INDEX switchboard.jobs_idempotency_key_live_idx2 RENAME TO jobs_idempotency_key_live_idx;

-- Existing future-dated work leaves the claim path.
UPDATE switchboard.jobs SET state = 'scheduled'
WHERE state = 'available' AND run_at > now() + switchboard.scheduling_horizon();

-- Rows inserted by any producer (a plain INSERT, COPY): future ones become 'scheduled' once the
-- statement is done. A BEFORE ROW trigger would do it without the extra write, but any BEFORE
-- ROW trigger makes COPY insert row by row; enqueue() and the Swift API's COPY write the state
-- directly, so this UPDATE only touches rows a producer dated later itself. One NOTIFY per queue
-- with jobs due now, as before.
--
-- The ids are gathered first and looked up by key: joined with the transition table (which has
-- no statistics), the planner chose a nested loop over both, 1.3 s for 5,000 rows none of which
-- was dated later.
CREATE OR REPLACE FUNCTION switchboard.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    q text;
    later bigint[];
BEGIN
    SELECT array_agg(id) INTO later FROM inserted
    WHERE state = 'available' AND run_at > now() + switchboard.scheduling_horizon();
    IF later IS NOT NULL THEN
        UPDATE switchboard.jobs SET state = 'scheduled' WHERE id = ANY (later) AND state = 'available';
    END IF;
    FOR q IN SELECT DISTINCT queue FROM inserted WHERE state = 'available' AND run_at <= now() LOOP
        PERFORM pg_notify('switchboard_jobs', q);
    END LOOP;
    RETURN NULL;
END;
$$;

-- enqueue() writes the state itself (no second write for a job dated later) and keeps the key
-- unique among scheduled jobs too.
CREATE OR REPLACE FUNCTION switchboard.enqueue(
    kind            text,
    payload         jsonb       DEFAULT '{}',
    queue           text        DEFAULT 'default',
    priority        smallint    DEFAULT 100,
    run_at          timestamptz DEFAULT NULL,
    max_attempts    integer     DEFAULT 20,
    idempotency_key text        DEFAULT NULL
) RETURNS TABLE (id bigint, existing boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
BEGIN
    IF enqueue.kind IS NULL THEN
        RAISE EXCEPTION 'kind: must not be null' USING ERRCODE = '22023';
    END IF;
    IF enqueue.payload IS NULL OR jsonb_typeof(enqueue.payload) <> 'object' THEN
        RAISE EXCEPTION 'payload: must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF enqueue.run_at IS NOT NULL AND NOT (enqueue.run_at >= '1970-01-01'
                                           AND enqueue.run_at <= now() + interval '10 years') THEN
        RAISE EXCEPTION 'run_at: % is not a time to run at (from 1970 up to ten years from now)', enqueue.run_at
            USING ERRCODE = '22023';
    END IF;
    LOOP
        INSERT INTO switchboard.jobs AS j (kind, queue, priority, state, run_at, max_attempts, payload, idempotency_key)
        VALUES (enqueue.kind, coalesce(enqueue.queue, 'default'), coalesce(enqueue.priority, 100),
                CASE WHEN enqueue.run_at > now() + switchboard.scheduling_horizon()
                     THEN 'scheduled'::switchboard.job_state ELSE 'available' END,
                coalesce(enqueue.run_at, now()), coalesce(enqueue.max_attempts, 20), enqueue.payload,
                enqueue.idempotency_key)
        ON CONFLICT (idempotency_key) WHERE state IN ('scheduled', 'available', 'running') DO NOTHING
        RETURNING j.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN QUERY SELECT new_id, false;
            RETURN;
        END IF;
        -- Another live job holds the key: return it. If it finished in between, try again.
        RETURN QUERY SELECT j.id, true FROM switchboard.jobs j
            WHERE j.idempotency_key = enqueue.idempotency_key AND j.state IN ('scheduled', 'available', 'running');
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
END;
$$;
