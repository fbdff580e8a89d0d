-- Switchboard 0018: finished jobs leave the hot table (issue 15).
--
-- The hot `jobs` table holds work that is scheduled, available or running, and jobs that
-- finished in the last minute or so. A worker's archiver moves older finished jobs, in batches,
-- to `job_history`, partitioned by the day they finished; the pruner drops whole days past the
-- retention (no DELETE of millions of rows, no dead tuples left behind for vacuum). Readers that
-- want a job whatever its age read `switchboard.all_jobs`.
--
-- Nothing here moves data: existing finished jobs are moved by the archiver in batches like any
-- others, so this migration holds no lock the claim path waits on.

CREATE TABLE switchboard.job_history (
    id               bigint      NOT NULL,
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    priority         smallint    NOT NULL,
    state            switchboard.job_state NOT NULL CHECK (state IN ('completed', 'failed', 'cancelled')),
    run_at           timestamptz NOT NULL,
    attempt          integer     NOT NULL,
    max_attempts     integer     NOT NULL,
    payload          jsonb       NOT NULL,
    result           jsonb,
    errors           jsonb       NOT NULL,
    outcome_unknown  boolean     NOT NULL,
    idempotency_key  text,
    created_at       timestamptz NOT NULL,
    attempted_at     timestamptz,
    finished_at      timestamptz NOT NULL,
    metadata         jsonb       NOT NULL
) PARTITION BY RANGE (finished_at);

COMMENT ON TABLE switchboard.job_history IS
    'Finished Switchboard jobs, moved from switchboard.jobs by the workers; one partition per UTC day. Read switchboard.all_jobs.';

-- A job by its id (jobs show, a status callback merging into its result); newest first (jobs list).
CREATE INDEX job_history_id_idx ON switchboard.job_history (id);
-- Rows arrive in finishing order, so a block range index on it is tiny and exact enough for
-- "finished in the last hour" (the dashboard, status).
CREATE INDEX job_history_finished_brin ON switchboard.job_history USING brin (finished_at);
-- Jobs that met an error (failed ones, and retried ones): the dashboard's latest failures and
-- the error codes of the last hour read these, not every job of the day.
CREATE INDEX job_history_errors_idx ON switchboard.job_history (finished_at) WHERE errors <> '[]'::jsonb;
-- A campaign's jobs (its status's deliveries, its report).
CREATE INDEX job_history_campaign_idx ON switchboard.job_history (((payload ->> 'campaignId')::bigint))
    WHERE payload ? 'campaignId';

-- History tables (this one; `message_history` in 0019) are partitioned by UTC day: one
-- partition `<table>_before_YYYYMMDD` for everything before the day the table was made, then
-- `<table>_YYYYMMDD` per day. These functions serve all of them.

-- The time a partition ends (exclusive), from its name; NULL for a table that is not one.
CREATE FUNCTION switchboard.history_partition_end(partition_name text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN partition_name ~ '_before_[0-9]{8}$'
            THEN to_date(right(partition_name, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC'
        WHEN partition_name ~ '_[0-9]{8}$'
            THEN (to_date(right(partition_name, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
    END
$$;

-- A history table's partitions, when each ends, and PostgreSQL's estimate of its rows.
CREATE FUNCTION switchboard.history_partitions(parent regclass)
RETURNS TABLE (partition_name text, ends timestamptz, estimated_rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, switchboard.history_partition_end(c.relname::text), greatest(c.reltuples, 0)::bigint
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent
$$;

-- Creates the daily partitions of `parent` missing from the last one up to `days_ahead` days
-- after today (UTC), without gaps; the first call makes the "before" partition. Returns how
-- many it created. Several hosts may call it at once (they take turns). Creating a partition
-- briefly locks the parent, so callers set a lock_timeout and try again later rather than queue
-- readers behind it: the archiver calls it two days ahead of need.
CREATE FUNCTION switchboard.create_history_partitions(parent regclass, days_ahead integer DEFAULT 2)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    today date := (now() AT TIME ZONE 'UTC')::date;
    next_day date;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('switchboard history partitions ' || base));
    SELECT (max(ends) AT TIME ZONE 'UTC')::date INTO next_day FROM switchboard.history_partitions(parent);
    IF next_day IS NULL THEN
        EXECUTE format(
            'CREATE TABLE switchboard.%I PARTITION OF %s FOR VALUES FROM (MINVALUE) TO (%L)',
            base || '_before_' || to_char(today, 'YYYYMMDD'), parent, today::timestamp AT TIME ZONE 'UTC');
        made := 1;
        next_day := today;
    END IF;
    WHILE next_day <= today + days_ahead LOOP
        EXECUTE format(
            'CREATE TABLE switchboard.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
            base || '_' || to_char(next_day, 'YYYYMMDD'), parent,
            next_day::timestamp AT TIME ZONE 'UTC', (next_day + 1)::timestamp AT TIME ZONE 'UTC');
        made := made + 1;
        next_day := next_day + 1;
    END LOOP;
    RETURN made;
END;
$$;

-- Where a history table begins: '-infinity' while its "before" partition exists, else the first
-- day kept. Archivers move nothing older (such a row, older than the retention, is the pruner's
-- to delete), so no row is ever without a partition.
CREATE FUNCTION switchboard.history_start(parent regclass) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN bool_or(partition_name ~ '_before_[0-9]{8}$') THEN '-infinity'::timestamptz
        ELSE coalesce(min(ends) - interval '1 day', 'infinity')
    END
    FROM switchboard.history_partitions(parent)
$$;

SELECT switchboard.create_history_partitions('switchboard.job_history');

-- Every job, hot or finished long ago. One snapshot reads both tables, so a job being moved is
-- seen exactly once.
CREATE VIEW switchboard.all_jobs AS
    SELECT id, kind, queue, priority, state, run_at, attempt, max_attempts, payload, result, errors,
           outcome_unknown, locked_by, locked_until, idempotency_key, created_at, attempted_at, finished_at,
           metadata
    FROM switchboard.jobs
    UNION ALL
    SELECT id, kind, queue, priority, state, run_at, attempt, max_attempts, payload, result, errors,
           outcome_unknown, NULL::text, NULL::timestamptz, idempotency_key, created_at, attempted_at, finished_at,
           metadata
    FROM switchboard.job_history;

COMMENT ON VIEW switchboard.all_jobs IS
    'Every Switchboard job: switchboard.jobs (unfinished and just finished) and switchboard.job_history.';

-- Finished jobs moved to history, per minute, kind and final state: the archiver adds each
-- batch, so throughput charts and per-state totals never count history rows. Pruned with the
-- retention.
CREATE TABLE switchboard.job_history_counts (
    minute  timestamptz NOT NULL,
    kind    text        NOT NULL,
    state   switchboard.job_state NOT NULL,
    jobs    bigint      NOT NULL CHECK (jobs >= 0),
    PRIMARY KEY (minute, kind, state)
);

-- A campaign's finished jobs, counted as the archiver moves them (campaign status adds the few
-- still in the hot table).
ALTER TABLE switchboard.campaign_feeds
    ADD COLUMN completed bigint NOT NULL DEFAULT 0 CHECK (completed >= 0),
    ADD COLUMN failed    bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),
    ADD COLUMN cancelled bigint NOT NULL DEFAULT 0 CHECK (cancelled >= 0);

-- A delivery status, a reply or a session's end merges fields into a job's result wherever the
-- job is: `under` below the result's own keys, `over` above them. Two statements, each with its
-- own snapshot: when the archiver moved the job meanwhile, the first finds it gone (after
-- waiting for the move to commit) and the second finds it in history.
CREATE FUNCTION switchboard.merge_job_result(job_id bigint, under jsonb, over jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE switchboard.jobs SET result = under || coalesce(result, '{}'::jsonb) || over
    WHERE id = job_id AND (result IS NULL OR jsonb_typeof(result) = 'object');
    IF FOUND THEN
        RETURN true;
    END IF;
    UPDATE switchboard.job_history SET result = under || coalesce(result, '{}'::jsonb) || over
    WHERE id = job_id AND (result IS NULL OR jsonb_typeof(result) = 'object');
    RETURN FOUND;
END;
$$;
