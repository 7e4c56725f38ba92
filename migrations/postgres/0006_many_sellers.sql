-- A search finds sellers by the beginnings of their words (nick, account, ids, countries,
-- app), through an index: `search_text LIKE '%…%'` read every row, which at 100,000 sellers
-- is tens of milliseconds per keystroke. The store fills the terms of the sellers stored
-- before this version once, when it next opens (`search_terms = 'pending'` asks it to).
CREATE TABLE token_terms (
    -- Compared byte for byte, so that a prefix is a range of the index in any locale.
    term     TEXT    COLLATE "C" NOT NULL,
    token_id BIGINT  NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    PRIMARY KEY (term, token_id)
);
CREATE INDEX token_terms_token ON token_terms (token_id);
INSERT INTO store_meta (name, value) VALUES ('search_terms', 'pending')
    ON CONFLICT (name) DO UPDATE SET value = 'pending';
-- `search_text` stays for now, unread: replicas of the previous version still write it
-- during a rolling upgrade, and would fail to store sellers if it were gone. A later
-- version drops it.

-- The console lists sellers most urgent first: those to re-authorize, then failing ones,
-- then those whose refresh token expires soon, then the rest, each by the soonest access
-- expiry. Each group is read through an index in that order, a page at a time
-- (`store/urgency.rs`), so a page costs what it shows, not what is stored.
CREATE INDEX tokens_by_expiry
    ON tokens ((COALESCE(access_expires_at, 9223372036854775807)), id);
CREATE INDEX tokens_reauthorize_by_expiry
    ON tokens ((COALESCE(access_expires_at, 9223372036854775807)), id)
    WHERE status = 'reauthorize';
CREATE INDEX tokens_failing_by_expiry
    ON tokens ((COALESCE(access_expires_at, 9223372036854775807)), id)
    WHERE consecutive_failures > 0;
CREATE INDEX tokens_active_by_refresh_expiry ON tokens (refresh_expires_at)
    WHERE status = 'active';

-- The refresher reads what is due, not every seller: `next_check_at` is when a pair is due
-- (or its backoff ends) under the refresher's policy, set by the refresher for pairs
-- written since its last pass (NULL until then) and on a failure. Lapsed pairs are found
-- by their expiry the same way.
ALTER TABLE tokens ADD COLUMN next_check_at BIGINT;
CREATE INDEX tokens_refresh_schedule ON tokens (app_id, next_check_at)
    WHERE status = 'active' AND refreshable = 1;
CREATE INDEX tokens_refresh_unscheduled ON tokens (app_id)
    WHERE next_check_at IS NULL AND status = 'active' AND refreshable = 1;
CREATE INDEX tokens_active_unrefreshable ON tokens (access_expires_at)
    WHERE status = 'active' AND refreshable = 0;

-- The metrics and readiness count sellers per state and app (and per platform and app key,
-- to find those no configured app can refresh) from this index alone, never the rows.
-- `status` is not its first column: SQLite, without statistics, would take it for the
-- selective way to `status = 'active' AND refresh_expires_at <= …` and read every seller.
CREATE INDEX tokens_by_owner ON tokens (app_id, platform, app_key, status, access_expires_at);

-- Who made a claim: a random value of the request's own. When the connection breaks after
-- the claim was sent, the request reads the claim back and knows whether it is its own,
-- instead of taking its own claim for another tab's (issue 27).
ALTER TABLE flow_claims ADD COLUMN claimant TEXT;
