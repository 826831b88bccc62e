-- Authentication: one indexed lookup by the hash of the presented secret.
-- name: TokenUser :one
SELECT users.id, users.name, users.created_at
FROM tokens
JOIN users ON users.id = tokens.user_id
WHERE tokens.secret_hash = @secret_hash;

-- TokenCreate creates a token unless the user holds quota of them already (then no
-- row): the count and the insert are one statement of the create's
-- SERIALIZABLE transaction, so two creates that both count and insert
-- read each other's write, one of them is rerun and counts again, and the
-- quota holds exactly however many run at once.
-- name: TokenCreate :one
INSERT INTO tokens (user_id, name, secret_hash)
SELECT @user_id::bigint, @name::text, @secret_hash::bytea
WHERE (SELECT count(*) FROM tokens k WHERE k.user_id = @user_id::bigint) < @quota::bigint
RETURNING id, name, created_at;

-- name: TokenGet :one
SELECT id, name, created_at FROM tokens
WHERE user_id = @user_id AND id = @id;

-- name: TokenList :many
SELECT id, name, created_at FROM tokens
WHERE user_id = @user_id AND id > @after_id
ORDER BY id
LIMIT @max_rows;

-- Revoking tells every taskd process (channel taskd_tokens, on commit)
-- to forget the token's hash from its cache of authenticated tokens.
-- It answers the revoked hash, for this process to evict at once.
-- name: TokenDelete :many
WITH gone AS (
    DELETE FROM tokens WHERE user_id = @user_id AND id = @id RETURNING secret_hash
)
SELECT gone.secret_hash FROM gone, LATERAL pg_notify('taskd_tokens', encode(gone.secret_hash, 'hex')) AS notified;

-- TokenRevoke is the administrator's revoke, by id alone; it notifies
-- like TokenDelete.
-- name: TokenRevoke :execrows
WITH gone AS (
    DELETE FROM tokens WHERE id = @id RETURNING secret_hash
)
SELECT pg_notify('taskd_tokens', encode(secret_hash, 'hex')) FROM gone;
