-- Facts about the store itself; today the encryption key check (see store/cipher.rs).
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
