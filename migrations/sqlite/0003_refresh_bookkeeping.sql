-- What the token API, the CLI and the refresher need to know about each pair.

-- When the current access token was issued (exchange or refresh): the refresh policy
-- counts its lifetime from here. `updated_at` is the row's version and moves on any change.
ALTER TABLE tokens ADD COLUMN issued_at INTEGER;
UPDATE tokens SET issued_at = updated_at;
-- When the seller last authorized: the refresh token's lifetime counts from here.
ALTER TABLE tokens ADD COLUMN authorized_at INTEGER;
UPDATE tokens SET authorized_at = updated_at;
ALTER TABLE tokens ADD COLUMN last_refresh_at INTEGER;
-- The last refresh failure, as shown to operators (never a token).
ALTER TABLE tokens ADD COLUMN last_error TEXT;
ALTER TABLE tokens ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
-- After a transient failure: not before this time (exponential backoff with jitter).
ALTER TABLE tokens ADD COLUMN retry_after INTEGER;

-- Every id a seller can be asked for by (seller_id, user_id, and those of each Lazada
-- country), so the API finds a seller without reading every row.
CREATE TABLE token_sellers (
    token_id   INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    seller_key TEXT    NOT NULL,
    PRIMARY KEY (token_id, seller_key)
);
CREATE INDEX token_sellers_key ON token_sellers (seller_key);
INSERT INTO token_sellers (token_id, seller_key)
    SELECT id, json_extract(identity, '$.seller_id') FROM tokens
    WHERE json_extract(identity, '$.seller_id') IS NOT NULL
    UNION
    SELECT id, json_extract(identity, '$.user_id') FROM tokens
    WHERE json_extract(identity, '$.user_id') IS NOT NULL
    UNION
    SELECT tokens.id, json_extract(c.value, '$.seller_id')
    FROM tokens, json_each(tokens.identity, '$.country_user_info') AS c
    WHERE json_extract(c.value, '$.seller_id') IS NOT NULL
    UNION
    SELECT tokens.id, json_extract(c.value, '$.user_id')
    FROM tokens, json_each(tokens.identity, '$.country_user_info') AS c
    WHERE json_extract(c.value, '$.user_id') IS NOT NULL;
