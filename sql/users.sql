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
