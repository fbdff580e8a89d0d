-- Switchboard 0017: campaigns are fed, not materialised (issue 15).
--
-- An import used to write one job per recipient, spread over hours by run_at, so the hot queue
-- table *was* the campaign. Now an import writes recipients only (insert-once rows that never
-- change); a feeder in every worker process turns the next ones into send jobs as fast as the
-- campaign's senders (or its rate cap) can send them, never more than a look-ahead of work
-- (60 s of capacity by default) in the queue, and moves the campaign's cursor in the same
-- transaction. Progress and ETA come from the cursor and the counters below, never a count.

-- Feed order (one sequence for all campaigns; gaps are harmless) and the job payload, rendered
-- and validated at import. 'pending': waits for the feeder (fed once `seq` is at or below the
-- campaign's cursor); 'queued': imported before this migration, its job already exists;
-- 'opted_out': suppressed at import, never sent.
ALTER TABLE switchboard.campaign_recipients
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN payload jsonb,
    DROP CONSTRAINT campaign_recipients_status_check,
    ADD CONSTRAINT campaign_recipients_status_check CHECK (status IN ('pending', 'queued', 'opted_out')),
    ADD CONSTRAINT campaign_recipients_pending_has_payload CHECK (status <> 'pending' OR payload IS NOT NULL);
CREATE INDEX campaign_recipients_feed_idx ON switchboard.campaign_recipients (campaign_id, seq);
-- An import takes a block of numbers at a time, not one sequence access per row.
ALTER TABLE switchboard.campaign_recipients ALTER COLUMN seq SET CACHE 1000;

-- The per-row foreign key check took a quarter of a large import's time (3.3 s of 14 per
-- million rows). The import holds the campaign's row (FOR KEY SHARE) for its transaction
-- instead, and deleting a campaign deletes its recipients once per statement.
ALTER TABLE switchboard.campaign_recipients DROP CONSTRAINT campaign_recipients_campaign_id_fkey;
CREATE FUNCTION switchboard.delete_campaign_recipients() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM switchboard.campaign_recipients r USING deleted d WHERE r.campaign_id = d.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER campaigns_delete_recipients
    AFTER DELETE ON switchboard.campaigns
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard.delete_campaign_recipients();

-- One row per campaign: the feeder's cursor and the counters status reads. A row of its own,
-- not columns of `campaigns`: the campaign row is updated by every capped send (its GCRA time),
-- and a feeder holding its lock would hold those sends up.
CREATE TABLE switchboard.campaign_feeds (
    campaign_id  bigint      PRIMARY KEY REFERENCES switchboard.campaigns (id) ON DELETE CASCADE,
    -- Recipients to send (pending or already queued) and those skipped as opted out at import.
    recipients   bigint      NOT NULL DEFAULT 0 CHECK (recipients >= 0),
    opted_out    bigint      NOT NULL DEFAULT 0 CHECK (opted_out >= 0),
    -- Recipients turned into jobs so far, and the last `seq` fed.
    fed          bigint      NOT NULL DEFAULT 0 CHECK (fed >= 0 AND fed <= recipients),
    fed_through  bigint      NOT NULL DEFAULT 0,
    -- The run_at the next fed job gets: fed jobs are spread at the campaign's pace.
    next_run_at  timestamptz NOT NULL DEFAULT '-infinity',
    -- When the feeder last found nothing left to feed and no job of the campaign live.
    finished_at  timestamptz
);

INSERT INTO switchboard.campaign_feeds (campaign_id, recipients, opted_out, fed, fed_through)
SELECT c.id,
       count(r.recipient) FILTER (WHERE r.status = 'queued'),
       count(r.recipient) FILTER (WHERE r.status = 'opted_out'),
       count(r.recipient) FILTER (WHERE r.status = 'queued'),
       coalesce(max(r.seq), 0)
FROM switchboard.campaigns c LEFT JOIN switchboard.campaign_recipients r ON r.campaign_id = c.id
GROUP BY c.id;

-- The feeder counts a campaign's live jobs (at most its look-ahead) on every pass.
CREATE INDEX jobs_campaign_live_idx ON switchboard.jobs (((payload ->> 'campaignId')::bigint))
    WHERE payload ? 'campaignId' AND state IN ('scheduled', 'available', 'running');
