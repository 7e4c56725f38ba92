-- How an exchange that failed ended (the platform's error, as JSON), so that a seller who
-- reloads the callback sees the same page again instead of "already used". Empty for
-- claims that succeeded or that older versions finished.
ALTER TABLE flow_claims ADD COLUMN failure TEXT;
