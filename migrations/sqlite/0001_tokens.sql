-- One row per seller account, per app key and platform. Times are epoch milliseconds.
CREATE TABLE tokens (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    platform           TEXT    NOT NULL,
    app_key            TEXT    NOT NULL,
    account_key        TEXT    NOT NULL,
    access_token       TEXT    NOT NULL,
    refresh_token      TEXT,
    access_expires_at  INTEGER,
    refresh_expires_at INTEGER,
    refreshable        INTEGER NOT NULL,
    -- SellerIdentity as JSON: ids, nick, account, Lazada countries. Never a token.
    identity           TEXT    NOT NULL,
    -- The platform's request_id of the last exchange or refresh, for platform support.
    last_request_id    TEXT,
    -- 'active', or 'reauthorize' once the refresh token is dead.
    status             TEXT    NOT NULL DEFAULT 'active',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (platform, app_key, account_key)
);
