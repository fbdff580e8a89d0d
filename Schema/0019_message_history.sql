-- Switchboard 0019: delivery records leave the hot table too (issue 15).
--
-- `messages` is written once per send and updated by its status callbacks, mostly within
-- minutes; replies are bound to it within the webhook's reply window (24 h by default). Older
-- rows only ever get read. A worker's message archiver moves messages older than
-- `--message-archive-after` (2 days) to `message_history`, partitioned by the UTC day they were
-- created, and with `--message-retention` drops whole days past it. A late status callback for
-- a moved message still finds it (StatusStore looks in history after the hot table). Read any
-- message from `switchboard.all_messages`. Like 0018, this moves no data itself.

-- The same columns (without the identity, defaults and checks: rows arrive whole).
CREATE TABLE switchboard.message_history (LIKE switchboard.messages) PARTITION BY RANGE (created_at);

COMMENT ON TABLE switchboard.message_history IS
    'Switchboard messages older than the archive age, moved from switchboard.messages; one partition per UTC day. Read switchboard.all_messages.';

-- A late status callback (by SID), a job's messages (jobs show, campaign status), and time
-- ranges (reports; rows arrive in creation order, so a block range index suffices).
CREATE INDEX message_history_sid_idx ON switchboard.message_history (sid);
CREATE INDEX message_history_job_idx ON switchboard.message_history (job_id);
CREATE INDEX message_history_created_brin ON switchboard.message_history USING brin (created_at);

SELECT switchboard.create_history_partitions('switchboard.message_history');

CREATE VIEW switchboard.all_messages AS
    SELECT id, sid, job_id, account_id, channel, to_address, from_address, messaging_service_sid, body, segments,
           status, error_code, price, price_unit, origin, created_at, updated_at, status_at
    FROM switchboard.messages
    UNION ALL
    SELECT id, sid, job_id, account_id, channel, to_address, from_address, messaging_service_sid, body, segments,
           status, error_code, price, price_unit, origin, created_at, updated_at, status_at
    FROM switchboard.message_history;

COMMENT ON VIEW switchboard.all_messages IS
    'Every message Switchboard sent: switchboard.messages (recent) and switchboard.message_history.';
