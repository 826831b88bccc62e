-- WebhookCreate creates a webhook unless the user holds quota of them already (then no
-- row): the count and the insert are one statement of the create's
-- SERIALIZABLE transaction, so two creates that both count and insert
-- read each other's write, one of them is rerun and counts again, and the
-- quota holds exactly however many run at once.
-- name: WebhookCreate :one
INSERT INTO webhooks (user_id, url, events, description, secret_sealed)
SELECT @user_id::bigint, @url::text, @events::text[], sqlc.narg(description)::text, @secret_sealed::bytea
WHERE (SELECT count(*) FROM webhooks w WHERE w.user_id = @user_id::bigint) < @quota::bigint
RETURNING *;

-- name: WebhookGet :one
SELECT * FROM webhooks WHERE user_id = @user_id AND id = @id;

-- WebhookLock locks a webhook for a PATCH or DELETE. FOR NO KEY UPDATE,
-- not FOR UPDATE: a delivery worker that has locked one of its deliveries
-- then logs the attempt, whose foreign key takes KEY SHARE on the webhook;
-- FOR UPDATE would wait for that while the pause waits for the delivery,
-- a deadlock.
-- name: WebhookLock :one
SELECT * FROM webhooks WHERE user_id = @user_id AND id = @id FOR NO KEY UPDATE;

-- name: WebhookList :many
SELECT * FROM webhooks
WHERE user_id = @user_id AND id > @after_id
ORDER BY id
LIMIT @max_rows;

-- WebhookUpdate applies a merge patch; enabling a webhook clears why it
-- was disabled. Pausing one (enabled: false) drops what it still had to
-- deliver, retries included, as disabling it does: a paused webhook is
-- sent nothing, and re-enabling it does not replay old events.
-- name: WebhookUpdate :one
WITH paused AS (
    DELETE FROM webhook_deliveries d
    WHERE @enabled_set::bool AND NOT @enabled::bool AND d.user_id = @user_id AND d.webhook_id = @id
)
UPDATE webhooks w SET
    url             = CASE WHEN @url_set::bool THEN @url::text ELSE url END,
    events          = CASE WHEN @events_set::bool THEN @events::text[] ELSE events END,
    description     = CASE WHEN @description_set::bool THEN sqlc.narg(description)::text ELSE description END,
    enabled         = CASE WHEN @enabled_set::bool THEN @enabled::bool ELSE enabled END,
    disabled_reason = CASE WHEN @enabled_set::bool AND @enabled::bool THEN NULL ELSE disabled_reason END,
    version         = version + 1,
    updated_at      = now()
WHERE w.user_id = @user_id AND w.id = @id
RETURNING *;

-- name: WebhookDelete :exec
DELETE FROM webhooks WHERE user_id = @user_id AND id = @id;

-- WebhookAttempts is a page of a webhook's delivery log, newest first.
-- name: WebhookAttempts :many
SELECT * FROM webhook_attempts
WHERE user_id = @user_id AND webhook_id = @webhook_id AND id < @before_id
ORDER BY id DESC
LIMIT @max_rows;

-- WebhookClaim takes up to max_rows due deliveries for this worker: rows
-- another replica holds are skipped, and the claimed ones are leased
-- (next_attempt_at moves past the delivery timeout) in the same statement,
-- so that once it commits no other replica sends them meanwhile. A due
-- delivery of a webhook that is not enabled is dropped unsent: a write
-- that read the webhook enabled can queue one after the pause (or the
-- disabling) that dropped the rest has committed.
-- name: WebhookClaim :many
WITH due AS (
    SELECT d.user_id, d.id FROM webhook_deliveries d
    WHERE d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT @max_rows
    FOR UPDATE SKIP LOCKED
), paused AS (
    DELETE FROM webhook_deliveries d
    USING due, webhooks w
    WHERE d.user_id = due.user_id AND d.id = due.id
      AND w.user_id = d.user_id AND w.id = d.webhook_id AND NOT w.enabled
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease_seconds::float8)
FROM due, webhooks w
WHERE d.user_id = due.user_id AND d.id = due.id
  AND w.user_id = d.user_id AND w.id = d.webhook_id AND w.enabled
RETURNING d.user_id, d.id, d.webhook_id, d.event_type, d.payload, d.attempts, d.first_failed_at, d.created_at,
          w.url, w.secret_sealed;

-- WebhookDone ends a delivery (sent, or given up) and logs the attempt.
-- name: WebhookDone :exec
WITH gone AS (
    DELETE FROM webhook_deliveries d WHERE d.user_id = @user_id AND d.id = @id
)
INSERT INTO webhook_attempts (user_id, webhook_id, event_id, event_type, attempt, status_code, error, duration_ms)
VALUES (@user_id, @webhook_id, @event_id, @event_type, @attempt, sqlc.narg(status_code), sqlc.narg(error), @duration_ms);

-- WebhookRetry schedules a failed delivery's next attempt and logs this one.
-- name: WebhookRetry :exec
WITH later AS (
    UPDATE webhook_deliveries d
    SET next_attempt_at = now() + make_interval(secs => @delay_seconds::float8),
        first_failed_at = coalesce(d.first_failed_at, now())
    WHERE d.user_id = @user_id AND d.id = @id
)
INSERT INTO webhook_attempts (user_id, webhook_id, event_id, event_type, attempt, status_code, error, duration_ms)
VALUES (@user_id, @webhook_id, @event_id, @event_type, @attempt, sqlc.narg(status_code), sqlc.narg(error), @duration_ms);

-- WebhookDisable turns a webhook off with the reason, dropping what it
-- still had to deliver.
-- name: WebhookDisable :exec
WITH dropped AS (
    DELETE FROM webhook_deliveries d WHERE d.user_id = @user_id AND d.webhook_id = @id
)
UPDATE webhooks w SET enabled = false, disabled_reason = @reason, version = w.version + 1, updated_at = now()
WHERE w.user_id = @user_id AND w.id = @id;

-- WebhookQueue is the outbox's depth and the age of its oldest entry.
-- name: WebhookQueue :one
SELECT count(*) AS depth,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM webhook_deliveries;
