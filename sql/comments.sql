-- name: CommentCreate :one
INSERT INTO comments (user_id, task_id, content) VALUES (@user_id, @task_id, @content)
RETURNING *;

-- name: CommentGet :one
SELECT * FROM comments WHERE user_id = @user_id AND task_id = @task_id AND id = @id;

-- CommentLock locks a comment for a write, with its project's state.
-- name: CommentLock :one
SELECT c.version, (p.archived_at IS NOT NULL)::bool AS project_archived
FROM comments c
JOIN tasks t ON t.user_id = c.user_id AND t.id = c.task_id
JOIN projects p ON p.user_id = t.user_id AND p.id = t.project_id
WHERE c.user_id = @user_id AND c.task_id = @task_id AND c.id = @id
FOR UPDATE OF c;

-- name: CommentList :many
SELECT * FROM comments
WHERE user_id = @user_id AND task_id = @task_id AND id > @after_id
ORDER BY id
LIMIT @max_rows;

-- name: CommentUpdate :one
UPDATE comments SET content = @content, version = version + 1, updated_at = now()
WHERE user_id = @user_id AND task_id = @task_id AND id = @id
RETURNING *;

-- name: CommentDelete :exec
DELETE FROM comments WHERE user_id = @user_id AND task_id = @task_id AND id = @id;
