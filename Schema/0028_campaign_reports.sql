-- Switchboard 0028: campaign reports (issue 14).
--
-- Replies and opt-out keywords are attributed to the campaign of the latest message they answer
-- (within the webhook's reply window), so a report counts them by one index range.

ALTER TABLE switchboard.inbound_messages ADD COLUMN campaign_id bigint;
CREATE INDEX inbound_messages_campaign_idx ON switchboard.inbound_messages (campaign_id, received_at)
    WHERE campaign_id IS NOT NULL;

-- Replies bound before this migration: their campaign from the message they answer.
UPDATE switchboard.inbound_messages i SET campaign_id = m.campaign_id
FROM switchboard.all_messages m
WHERE m.sid = i.reply_to_sid AND m.campaign_id IS NOT NULL;
