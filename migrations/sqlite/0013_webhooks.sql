-- Events become deliverable: each gets a public id (what webhooks and the API name it by),
-- and one delivery per configured webhook endpoint, with every attempt kept. Lifecycle
-- events (`seller.*`) are kept here too; their body is the event's data.
ALTER TABLE events ADD COLUMN uid TEXT;
UPDATE events SET uid = 'evt_' || lower(hex(randomblob(12))) WHERE uid IS NULL;
CREATE UNIQUE INDEX events_uid ON events (uid);

CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint    TEXT    NOT NULL,
    -- `pending` until a 2xx (`delivered`) or until the schedule gives up (`failed`).
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    -- The process sending it now, until when: a process killed mid-delivery leaves it to
    -- be taken again once this passes.
    lease_until INTEGER,
    holder      TEXT,
    created_at  INTEGER NOT NULL,
    done_at     INTEGER,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX deliveries_due ON deliveries (endpoint, state, next_at);
CREATE INDEX deliveries_pending ON deliveries (state, created_at);
-- What one process took in one go, read back in the same write.
CREATE INDEX deliveries_lease ON deliveries (holder, lease_until);

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    -- The endpoint's HTTP status, or none when it did not answer (`error` says why).
    status      INTEGER,
    error       TEXT,
    ms          INTEGER NOT NULL
);
CREATE INDEX delivery_attempts_of ON delivery_attempts (delivery_id);

-- What has been announced of a seller's pair (bits: authorized, expiring in 14 days, in
-- 2 days, reauthorization needed, closed), and when the next announcement may fall due.
-- A new authorization clears both, so the seller's new deadline is announced afresh.
ALTER TABLE tokens ADD COLUMN notices INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN next_notice_at INTEGER;
-- Pairs stored before this are not announced as new authorizations (an upgrade would
-- flood every endpoint), but their deadlines are looked at once now.
UPDATE tokens SET notices = 1, next_notice_at = 0;
CREATE INDEX tokens_notice_due ON tokens (next_notice_at);
