-- Readings for operators (switchboard status, the dashboard, /metrics) without scanning the hot
-- tables: recent sends per sender (BRIN on the append-ordered creation time: a few pages, almost
-- free to maintain) and recent delivery failures (partial indexes over failed rows only).
CREATE INDEX messages_created_brin ON switchboard.messages USING brin (created_at);
CREATE INDEX messages_failed_idx ON switchboard.messages (updated_at) WHERE error_code IS NOT NULL;
CREATE INDEX calls_failed_idx ON switchboard.calls (updated_at) WHERE error_code IS NOT NULL;
