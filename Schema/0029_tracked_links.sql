-- Switchboard 0029: tracked links (issue 14).
--
-- A campaign's template may write `{{link "https://…"}}` (or the campaign may shorten every URL
-- in its body): each message then carries a short link on the campaign's link base URL, served by
-- the webhook process (`GET /l/{code}` → 302). The code names the link and the recipient and
-- carries a MAC under the key below (see TrackedLink), so the redirect is one indexed read of the
-- link and nothing per message is stored: ten million messages add one row per distinct URL.

-- The MAC key: 32 random bytes made once (gen_random_uuid is PostgreSQL's strong random source;
-- two of them carry 244 random bits). Anyone who can read it can only forge clicks, which a
-- database writer could insert anyway.
CREATE TABLE switchboard.link_keys (
    id          integer     PRIMARY KEY CHECK (id = 1),
    secret      bytea       NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO switchboard.link_keys (id, secret)
VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE switchboard.links (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES switchboard.campaigns (id) ON DELETE CASCADE,
    url         text        NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$' AND length(url) <= 2048),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, url)
);

-- Where a campaign's short links point (the webhook's public URL, or a domain of the user's that
-- forwards /l/ to it), and how long they keep working (NULL: as long as the campaign exists).
ALTER TABLE switchboard.campaigns
    ADD COLUMN link_base_url text CHECK (link_base_url ~ '^https?://[^[:space:]/?#]+(/[^[:space:]?#]*)?$'),
    ADD COLUMN links_expire_after interval CHECK (links_expire_after > interval '0');

-- Every click: people's and, apart (`bot`), link previews and crawlers by their User-Agent.
CREATE TABLE switchboard.link_clicks (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_id     bigint      NOT NULL REFERENCES switchboard.links (id) ON DELETE CASCADE,
    campaign_id bigint      NOT NULL,
    -- The recipient's campaign_recipients.seq.
    recipient   bigint      NOT NULL,
    bot         boolean     NOT NULL,
    user_agent  text        CHECK (length(user_agent) <= 256),
    clicked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_clicks_campaign_idx ON switchboard.link_clicks (campaign_id, clicked_at);
CREATE INDEX link_clicks_link_idx ON switchboard.link_clicks (link_id);
