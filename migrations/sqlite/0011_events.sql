-- What arrives for the operator's services: the platform's pushes, each kept as received
-- (the signature was checked over these bytes) before the platform is told it arrived.
-- The same body for the same app again is the platform's retry: kept once.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    app_id       TEXT    NOT NULL,
    -- `platform.push` (the service's own lifecycle events will be other types).
    type         TEXT    NOT NULL,
    message_type INTEGER,
    seller_id    TEXT,
    body         TEXT    NOT NULL,
    -- SHA-256 of the body: what makes a retry a duplicate.
    digest       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_once ON events (app_id, digest);
CREATE INDEX events_created ON events (created_at);
