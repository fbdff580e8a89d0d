-- Switchboard 0011: refusals that used to be missing.

-- run_at must be a real time. '-infinity' sorted ahead of everything, and an infinite or absurd
-- run_at broke `status`, the dashboard and /metrics (ages computed from it overflow). Rows already
-- holding one are repaired first: -infinity runs now; +infinity or a date past 2200 could never
-- run, so the job is cancelled with the reason.
UPDATE switchboard.jobs SET run_at = now()
WHERE state IN ('available', 'running') AND run_at < '1970-01-01';
UPDATE switchboard.jobs
SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(), 'kind', 'cancelled',
                                          'error', 'run_at: ' || run_at::text || ' is not a time a job can run at'))
WHERE state IN ('available', 'running') AND run_at >= '2200-01-01';
UPDATE switchboard.jobs SET run_at = least(greatest(run_at, '1970-01-01'), '2199-12-31')
WHERE run_at < '1970-01-01' OR run_at >= '2200-01-01';
ALTER TABLE switchboard.jobs
    ADD CONSTRAINT jobs_run_at_is_a_time CHECK (run_at >= '1970-01-01' AND run_at < '2200-01-01');

-- The same rule, with a message that names the field, for producers calling enqueue(). Further
-- ahead than ten years is a mistake (a unit error, a sentinel), not a schedule.
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
        INSERT INTO switchboard.jobs AS j (kind, queue, priority, run_at, max_attempts, payload, idempotency_key)
        VALUES (enqueue.kind, coalesce(enqueue.queue, 'default'), coalesce(enqueue.priority, 100),
                coalesce(enqueue.run_at, now()), coalesce(enqueue.max_attempts, 20), enqueue.payload,
                enqueue.idempotency_key)
        ON CONFLICT (idempotency_key) WHERE state IN ('available', 'running') DO NOTHING
        RETURNING j.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN QUERY SELECT new_id, false;
            RETURN;
        END IF;
        -- Another live job holds the key: return it. If it finished in between, try again.
        RETURN QUERY SELECT j.id, true FROM switchboard.jobs j
            WHERE j.idempotency_key = enqueue.idempotency_key AND j.state IN ('available', 'running');
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
END;
$$;

-- Status callbacks that arrive before their message or call is recorded keep the account whose
-- auth token signed them: they apply only to that account's rows.
ALTER TABLE switchboard.pending_statuses ADD COLUMN account_id bigint REFERENCES switchboard.accounts (id);
