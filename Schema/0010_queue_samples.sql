-- The dashboard's queue-depth history: one row per minute, queue and state, written by the
-- webhook processes (the first to arrive in a minute writes it; the others find it there) and
-- kept for seven days. Throughput needs no table: it is counted from jobs.finished_at.
CREATE TABLE switchboard.queue_samples (
    minute  timestamptz NOT NULL,
    queue   text        NOT NULL,
    state   text        NOT NULL,
    jobs    bigint      NOT NULL,
    PRIMARY KEY (minute, queue, state)
);
