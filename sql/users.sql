-- Sign-up writes the user and its first token in one statement.
-- name: UserCreate :one
WITH new_user AS (
    INSERT INTO users (name) VALUES (@name)
    RETURNING id, name, created_at
), sign_up_token AS (
    INSERT INTO tokens (user_id, name, secret_hash)
    SELECT id, 'sign-up', @secret_hash FROM new_user
)
SELECT id, name, created_at FROM new_user;

-- name: UserByName :one
SELECT id, name, created_at FROM users WHERE lower(name) = lower(@name);

-- UserUsage counts what a user holds, for the quotas. Counts stop at
-- cap (just past the largest quota), so that a full account costs no more
-- to count than its quota; new_tags is how many of names are not tags yet.
-- name: UserUsage :one
SELECT (SELECT count(*) FROM (SELECT 1 FROM tokens k WHERE k.user_id = @user_id LIMIT @cap) t) AS tokens,
       (SELECT count(*) FROM (SELECT 1 FROM projects p WHERE p.user_id = @user_id LIMIT @cap) t) AS projects,
       (SELECT count(*) FROM (SELECT 1 FROM tasks k WHERE k.user_id = @user_id LIMIT @cap) t) AS tasks,
       (SELECT count(*) FROM (SELECT 1 FROM tags g WHERE g.user_id = @user_id LIMIT @cap) t) AS tags,
       (SELECT count(*) FROM (SELECT 1 FROM webhooks w WHERE w.user_id = @user_id LIMIT @cap) t) AS webhooks,
       (SELECT count(*) FROM unnest(@names::text[]) AS n(name)
        WHERE NOT EXISTS (SELECT 1 FROM tags g WHERE g.user_id = @user_id AND g.name = n.name)) AS new_tags;
