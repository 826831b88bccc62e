-- migrate:up

-- A stored reply may carry a secret: sign-up's token, a new API token.
-- Whoever holds the Idempotency-Key and the body gets that reply again,
-- so a copy of the database (a dump, a backup, a replica) must yield
-- neither: keys are kept only as their SHA-256, and each stored body is
-- sealed with a key derived from the Idempotency-Key itself (AES-256-GCM,
-- api/idempotency.go). The rows written before held both in clear and are
-- dropped: a retry of one of them within its 24 hours runs again.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_pkey,
    DROP COLUMN key,
    ADD COLUMN key_hash bytea NOT NULL,
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, method, path, key_hash);

-- migrate:down

DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_pkey,
    DROP COLUMN key_hash,
    ADD COLUMN key text NOT NULL,
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, method, path, key);
