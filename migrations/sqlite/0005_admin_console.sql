-- The operator's console: sessions, failed sign-ins per client, and the audit log. Kept
-- here so that every replica agrees on them.

-- A signed-in operator, by the SHA-256 of the session cookie, and the password in force
-- then (a changed password ends the session).
CREATE TABLE admin_sessions (
    session_digest BLOB    PRIMARY KEY,
    password_tag   TEXT    NOT NULL,
    client         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL
);
CREATE INDEX admin_sessions_last_seen_at ON admin_sessions (last_seen_at);

-- Failed sign-ins of one client address in the current minute, and its lock.
CREATE TABLE admin_login_failures (
    client       TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER
);

-- Sign-ins, reveals, refreshes and deletes. Never a token or a password.
CREATE TABLE admin_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    action   TEXT    NOT NULL,
    client   TEXT    NOT NULL,
    token_id INTEGER,
    subject  TEXT,
    detail   TEXT
);
