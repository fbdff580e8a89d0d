-- Switchboard 0001: the durable job queue.
-- Forward-only. Applied by `switchboard migrate` inside one transaction under an advisory lock.

CREATE SCHEMA IF NOT EXISTS switchboard;

CREATE TYPE switchboard.job_state AS ENUM ('available', 'running', 'completed', 'failed', 'cancelled');

CREATE TABLE switchboard.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    queue            text        NOT NULL DEFAULT 'default' CHECK (queue ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    -- Smaller runs first.
    priority         smallint    NOT NULL DEFAULT 100 CHECK (priority BETWEEN 0 AND 1000),
    state            switchboard.job_state NOT NULL DEFAULT 'available',
    -- Not before this time. Also used for retry backoff and snoozing.
    run_at           timestamptz NOT NULL DEFAULT now(),
    -- Attempts started so far (a claim increments it; a snooze gives it back).
    attempt          integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     integer     NOT NULL DEFAULT 20 CHECK (max_attempts BETWEEN 1 AND 1000),
    payload          jsonb       NOT NULL DEFAULT '{}',
    result           jsonb,
    -- One object per failed or interrupted attempt: {attempt, at, error, kind}.
    errors           jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    -- Set when an attempt ended without a known outcome (worker died, lease expired, shutdown):
    -- a handler with side effects (sending) must check before repeating them.
    outcome_unknown  boolean     NOT NULL DEFAULT false,
    locked_by        text,
    locked_until     timestamptz,
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    finished_at      timestamptz,
    CONSTRAINT jobs_payload_is_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL)),
    CONSTRAINT jobs_finished_has_time CHECK (state NOT IN ('completed', 'failed', 'cancelled') OR finished_at IS NOT NULL)
);

COMMENT ON TABLE switchboard.jobs IS 'Switchboard job queue; insert with switchboard.enqueue() or COPY.';

-- The claim query walks this index in (priority, run_at, id) order.
CREATE INDEX jobs_fetch_idx ON switchboard.jobs (queue, priority, run_at, id) WHERE state = 'available';
-- Rescuer: running jobs by lease expiry.
CREATE INDEX jobs_lease_idx ON switchboard.jobs (locked_until) WHERE state = 'running';
-- Pruner and listings of finished work.
CREATE INDEX jobs_finished_idx ON switchboard.jobs (finished_at) WHERE state IN ('completed', 'failed', 'cancelled');
CREATE INDEX jobs_kind_state_idx ON switchboard.jobs (kind, state);
-- An idempotency key is unique among live (not yet finished) jobs.
CREATE UNIQUE INDEX jobs_idempotency_key_live_idx ON switchboard.jobs (idempotency_key)
    WHERE state IN ('available', 'running');

-- A hot queue table: vacuum it often so dead tuples from claims and completions do not pile up.
ALTER TABLE switchboard.jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 2000,
    fillfactor = 90
);

-- One NOTIFY per transaction and queue for jobs that are ready now. PostgreSQL drops duplicate
-- notifications (same channel and payload) within a transaction, so a COPY of a million rows or
-- many INSERT statements in one transaction wake workers once.
CREATE FUNCTION switchboard.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    q text;
BEGIN
    FOR q IN SELECT DISTINCT queue FROM inserted WHERE state = 'available' AND run_at <= now() LOOP
        PERFORM pg_notify('switchboard_jobs', q);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON switchboard.jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard.notify_jobs_inserted();

-- Enqueue one job from any language, inside the caller's own transaction:
--
--   SELECT * FROM switchboard.enqueue('sms', '{"to": "+15551234567", "body": "Hi"}');
--   SELECT * FROM switchboard.enqueue('sms', '{…}', idempotency_key => 'order-42-shipped');
--
-- With an idempotency key that a live job already holds, nothing is inserted and that job is
-- returned with existing = true.
CREATE FUNCTION switchboard.enqueue(
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
