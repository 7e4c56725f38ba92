-- What the platform's pushes say about a seller: when its authorization expires (type 8,
-- sent daily from 48 hours before) and when it closed its shop (type 13). Both are cleared
-- when the seller authorizes again.
ALTER TABLE tokens ADD COLUMN authorization_expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN closed_at BIGINT;
