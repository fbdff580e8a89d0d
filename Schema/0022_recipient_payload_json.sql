-- An import parsed every recipient's payload into jsonb — a quarter of its database time — for
-- the feeder to copy into a job once, at the campaign's pace. New imports keep the payload as the
-- JSON they rendered, in `payload_json` (the json type checks the syntax when the row is written
-- and keeps the text: no jsonb parse), and the feeder parses it when it makes the job. Recipients
-- imported before keep `payload`. A nullable column and a NOT VALID check rewrite and scan
-- nothing (the rows already there met the stricter check).
ALTER TABLE switchboard.campaign_recipients ADD COLUMN payload_json json;
ALTER TABLE switchboard.campaign_recipients
    DROP CONSTRAINT campaign_recipients_pending_has_payload,
    ADD CONSTRAINT campaign_recipients_pending_has_payload
        CHECK (status <> 'pending' OR payload IS NOT NULL OR payload_json IS NOT NULL) NOT VALID;
