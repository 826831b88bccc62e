-- IdempotencyGet finds the stored response of a key that is still live.
-- name: IdempotencyGet :one
SELECT request_hash, status, body, location, etag FROM idempotency_keys
WHERE user_id = @user_id AND method = @method AND path = @path AND key_hash = @key_hash
  AND created_at > now() - interval '24 hours';

-- IdempotencyClaim takes a key for the running transaction, or takes over
-- an expired one. A concurrent transaction holding the same key makes it
-- wait until that one ends; it then claims nothing (0 rows) if the other
-- committed, and the caller replays the other's response.
-- name: IdempotencyClaim :execrows
INSERT INTO idempotency_keys (user_id, method, path, key_hash, request_hash)
VALUES (@user_id, @method, @path, @key_hash, @request_hash)
ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE
    SET request_hash = excluded.request_hash, status = 0, body = '',
        location = NULL, etag = NULL, created_at = now()
    WHERE idempotency_keys.created_at <= now() - interval '24 hours';

-- IdempotencyStore records the response (its body sealed) in the
-- transaction of its effect.
-- name: IdempotencyStore :exec
UPDATE idempotency_keys
SET status = @status, body = @body, location = @location, etag = @etag
WHERE user_id = @user_id AND method = @method AND path = @path AND key_hash = @key_hash;

-- name: IdempotencyExpire :execrows
DELETE FROM idempotency_keys WHERE created_at <= now() - interval '24 hours';
