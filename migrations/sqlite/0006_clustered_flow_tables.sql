-- Every seller flow inserts a claim and a result grant, and a pair's lookup ids. As rowid
-- tables each of these was two B-trees (the rows, and the index behind the primary key),
-- and the random keys sent each insert to a random page of the index: one more page
-- written to the WAL and copied by the checkpoint, per table, per flow.
--
-- Now the rows live in their primary key's B-tree (WITHOUT ROWID), and claims and results
-- are keyed in time order (the claim key starts with the state's expiry, the result id
-- with its creation time), so a flow's inserts land on the last page, which the previous
-- flows dirtied already. Claims and results written by earlier versions keep their keys
-- and still resolve until they expire.

CREATE TABLE flow_claims_clustered (
    -- The claim key: the state's expiry, big-endian, then 24 bytes of its SHA-256.
    state_digest   BLOB    PRIMARY KEY,
    app_id         TEXT    NOT NULL,
    browser_digest BLOB    NOT NULL,
    -- 'exchanging', or 'finished' (with result_id when the exchange succeeded).
    stage          TEXT    NOT NULL,
    result_id      TEXT,
    keep_until     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO flow_claims_clustered
    SELECT state_digest, app_id, browser_digest, stage, result_id, keep_until FROM flow_claims;
DROP TABLE flow_claims;
ALTER TABLE flow_claims_clustered RENAME TO flow_claims;
CREATE INDEX flow_claims_keep_until ON flow_claims (keep_until);

CREATE TABLE flow_results_clustered (
    result_id      TEXT    PRIMARY KEY,
    app_id         TEXT    NOT NULL,
    browser_digest BLOB    NOT NULL,
    token_id       INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO flow_results_clustered
    SELECT result_id, app_id, browser_digest, token_id, expires_at FROM flow_results;
DROP TABLE flow_results;
ALTER TABLE flow_results_clustered RENAME TO flow_results;
CREATE INDEX flow_results_expires_at ON flow_results (expires_at);

CREATE TABLE token_sellers_clustered (
    token_id   INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    seller_key TEXT    NOT NULL,
    PRIMARY KEY (token_id, seller_key)
) WITHOUT ROWID;
INSERT INTO token_sellers_clustered SELECT token_id, seller_key FROM token_sellers;
DROP TABLE token_sellers;
ALTER TABLE token_sellers_clustered RENAME TO token_sellers;
CREATE INDEX token_sellers_key ON token_sellers (seller_key);
