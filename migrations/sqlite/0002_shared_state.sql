-- Everything several processes must agree on lives here, not in one process's memory:
-- which app a token belongs to, the states that valid callbacks claimed, which browser
-- may open which result page, and who is refreshing a token right now.

-- The local app name (`default` for a single-app deployment).
ALTER TABLE tokens ADD COLUMN app_id TEXT NOT NULL DEFAULT 'default';
-- A refresh lease: the process refreshing this token, and until when it may.
ALTER TABLE tokens ADD COLUMN lease_holder TEXT;
ALTER TABLE tokens ADD COLUMN lease_until INTEGER;

-- A state that a valid callback claimed, so its code is exchanged at most once.
-- Only the state's SHA-256 is kept.
CREATE TABLE flow_claims (
    state_digest   BLOB    PRIMARY KEY,
    app_id         TEXT    NOT NULL,
    browser_digest BLOB    NOT NULL,
    -- 'exchanging', or 'finished' (with result_id when the exchange succeeded).
    stage          TEXT    NOT NULL,
    result_id      TEXT,
    keep_until     INTEGER NOT NULL
);
CREATE INDEX flow_claims_keep_until ON flow_claims (keep_until);

-- Which browser (by the SHA-256 of its cookie) may open which result page, until when.
CREATE TABLE flow_results (
    result_id      TEXT    PRIMARY KEY,
    app_id         TEXT    NOT NULL,
    browser_digest BLOB    NOT NULL,
    token_id       INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX flow_results_expires_at ON flow_results (expires_at);
