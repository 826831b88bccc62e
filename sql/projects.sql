-- ProjectCreate creates a project unless the user holds quota of them already (then no
-- row): the count and the insert are one statement of the create's
-- SERIALIZABLE transaction, so two creates that both count and insert
-- read each other's write, one of them is rerun and counts again, and the
-- quota holds exactly however many run at once.
-- name: ProjectCreate :one
INSERT INTO projects (user_id, name, description, color)
SELECT @user_id::bigint, @name::text, sqlc.narg(description)::text, sqlc.narg(color)::text
WHERE (SELECT count(*) FROM projects p WHERE p.user_id = @user_id::bigint) < @quota::bigint
RETURNING *;

-- name: ProjectGet :one
SELECT * FROM projects WHERE user_id = @user_id AND id = @id;

-- ProjectLock takes the row lock a write needs before its checks, and
-- says whether the project holds tasks (delete refuses then).
-- name: ProjectLock :one
SELECT projects.*,
       EXISTS (SELECT 1 FROM tasks
               WHERE tasks.user_id = projects.user_id
                 AND tasks.project_id = projects.id) AS has_tasks
FROM projects
WHERE projects.user_id = @user_id AND projects.id = @id
FOR UPDATE OF projects;

-- name: ProjectList :many
SELECT * FROM projects
WHERE user_id = @user_id
  AND id > @after_id
  AND (@include_archived::bool OR archived_at IS NULL)
ORDER BY id
LIMIT @max_rows;

-- Merge patch: each column changes only when its field was present.
-- name: ProjectUpdate :one
UPDATE projects SET
    name        = CASE WHEN @name_set::bool THEN @name::text ELSE name END,
    description = CASE WHEN @description_set::bool THEN sqlc.narg(description)::text ELSE description END,
    color       = CASE WHEN @color_set::bool THEN sqlc.narg(color)::text ELSE color END,
    version     = version + 1,
    updated_at  = now()
WHERE user_id = @user_id AND id = @id
RETURNING *;

-- Archiving is idempotent: a second call changes nothing, not even the ETag.
-- name: ProjectSetArchived :one
UPDATE projects SET
    archived_at = CASE WHEN @archived::bool THEN coalesce(archived_at, now()) END,
    version     = version + CASE WHEN (archived_at IS NOT NULL) = @archived::bool THEN 0 ELSE 1 END,
    updated_at  = CASE WHEN (archived_at IS NOT NULL) = @archived::bool THEN updated_at ELSE now() END
WHERE user_id = @user_id AND id = @id
RETURNING *;

-- Tasks go with the project through the foreign key's ON DELETE CASCADE.
-- name: ProjectDelete :execrows
DELETE FROM projects WHERE user_id = @user_id AND id = @id;
