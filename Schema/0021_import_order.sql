-- Recipients are fed in `seq` order behind a cursor (`campaign_feeds.fed_through`). `seq` was an
-- identity column whose values each session cached a thousand at a time, so an import on one
-- connection could take values below those an earlier import took on another — below the
-- feeder's cursor, and never fed. Now an import numbers its recipients itself:
-- seq = (import << 32) + line, where the import is one more than the campaign's last (imports
-- into one campaign take turns on an advisory lock, first key 1398227529, "SWBI"). Recipients are
-- fed in file order within an import and imports in the order they were made; existing values
-- are below every new one (the next import of a campaign counts from its highest seq).
ALTER TABLE switchboard.campaign_recipients ALTER COLUMN seq DROP IDENTITY;
