-- The platform's code of the last refresh failure (`ApiCallLimit`), beside its words in
-- last_error: the token API answers from it until the backoff ends.
ALTER TABLE tokens ADD COLUMN last_error_code TEXT;
