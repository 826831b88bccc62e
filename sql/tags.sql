-- TaskTagsAdd gives a task tags by name, creating the names it lacks in
-- the same statement. ON CONFLICT DO UPDATE (not DO NOTHING) returns the
-- existing row even when a concurrent transaction just created it, so no
-- tag is lost to the race; names arrive sorted, so concurrent writers
-- lock tag rows in the same order. Returns the ids of the task's tags
-- that were added.
-- name: TaskTagsAdd :many
WITH tag AS (
    INSERT INTO tags (user_id, name)
    SELECT @user_id, name FROM unnest(@names::text[]) AS name ORDER BY name COLLATE "C"
    ON CONFLICT (user_id, name) DO UPDATE SET name = excluded.name
    RETURNING id
)
INSERT INTO task_tags (user_id, task_id, tag_id)
SELECT @user_id, @task_id, tag.id FROM tag
ON CONFLICT DO NOTHING
RETURNING tag_id;

-- TaskTagsKeep removes the task's tags whose names are not in names.
-- name: TaskTagsKeep :execrows
DELETE FROM task_tags tt USING tags g
WHERE tt.user_id = @user_id AND tt.task_id = @task_id
  AND g.user_id = tt.user_id AND g.id = tt.tag_id
  AND NOT (g.name = ANY(@names::text[]));

-- name: TaskTagRemove :execrows
DELETE FROM task_tags tt USING tags g
WHERE tt.user_id = @user_id AND tt.task_id = @task_id
  AND g.user_id = tt.user_id AND g.id = tt.tag_id AND g.name = @name;

-- TaskTagCount counts the distinct tags a task would have with names added.
-- name: TaskTagCount :one
SELECT count(*) FROM (
    SELECT g.name FROM task_tags tt JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id
    WHERE tt.user_id = @user_id AND tt.task_id = @task_id
    UNION
    SELECT unnest(@names::text[])
) AS n;

-- name: TagGet :one
SELECT g.id, g.name, g.version, g.created_at,
       (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id) AS task_count
FROM tags g
WHERE g.user_id = @user_id AND g.id = @id;

-- name: TagLock :one
SELECT id, version FROM tags WHERE user_id = @user_id AND id = @id FOR UPDATE;

-- Tags in name order (code points) or by popularity, keyset-paged on the
-- sort key; unused filters on whether any task carries the tag.
-- name: TagList :many
SELECT * FROM (
    SELECT g.id, g.name, g.version, g.created_at, count(tt.task_id) AS task_count
    FROM tags g
    LEFT JOIN task_tags tt ON tt.user_id = g.user_id AND tt.tag_id = g.id
    WHERE g.user_id = @user_id
    GROUP BY g.user_id, g.id
) AS t
WHERE (sqlc.narg(unused)::bool IS NULL OR (t.task_count = 0) = sqlc.narg(unused))
  AND (NOT @after::bool
       OR (@popular::bool AND (t.task_count < @after_count::bigint
                               OR (t.task_count = @after_count::bigint AND t.name COLLATE "C" > @after_name::text)))
       OR (NOT @popular::bool AND t.name COLLATE "C" > @after_name::text))
ORDER BY CASE WHEN @popular::bool THEN t.task_count END DESC, t.name COLLATE "C"
LIMIT @max_rows;

-- TagCreate answers the tag of that name, created or not; created says which.
-- name: TagCreate :one
WITH new_tag AS (
    INSERT INTO tags (user_id, name) VALUES (@user_id, @name)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM new_tag
UNION ALL
SELECT id, false FROM tags WHERE user_id = @user_id AND name = @name
LIMIT 1;

-- name: TagRename :exec
UPDATE tags SET name = @name, version = version + CASE WHEN name = @name THEN 0 ELSE 1 END
WHERE user_id = @user_id AND id = @id;

-- name: TagTaskIDs :many
SELECT task_id FROM task_tags WHERE user_id = @user_id AND tag_id = @tag_id;

-- name: TagDelete :exec
DELETE FROM tags WHERE user_id = @user_id AND id = @id;

-- TagMergeLinks gives every task of tag_id the tag into_id instead.
-- name: TagMergeLinks :exec
INSERT INTO task_tags (user_id, task_id, tag_id)
SELECT src.user_id, src.task_id, @into_id::bigint FROM task_tags AS src
WHERE src.user_id = @user_id AND src.tag_id = @tag_id
ON CONFLICT DO NOTHING;

-- name: TagCleanup :execrows
DELETE FROM tags g
WHERE g.user_id = @user_id
  AND NOT EXISTS (SELECT 1 FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id);
