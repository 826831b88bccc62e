-- TaskTagsAdd gives a task more tags by name in one statement: unknown
-- names are created (tag_ids), the links made, and the
-- task's version bumped when a link is new. It answers the task as
-- task_rows shows it as of the statement's snapshot (the view cannot see
-- this statement's writes), with what the statement changed beside it
-- (version, updated_at, the resulting tags), and how many distinct tags
-- the task has with the new names: when that is over max_tags nothing is
-- written and the caller refuses.
-- name: TaskTagsAdd :one
WITH cur AS (
    SELECT g.name FROM task_tags tt
    JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id
    WHERE tt.user_id = @user_id AND tt.task_id = @task_id
), merged AS (
    SELECT cur.name FROM cur UNION SELECT unnest(@names::text[])
), tag AS (
    SELECT unnest(tag_ids(@user_id, @names::text[])) AS id
    WHERE (SELECT count(*) FROM merged) <= @max_tags::bigint
), link AS (
    INSERT INTO task_tags (user_id, task_id, tag_id)
    SELECT @user_id, @task_id, tag.id FROM tag
    ON CONFLICT DO NOTHING
    RETURNING tag_id
), touched AS (
    UPDATE tasks SET version = version + 1, updated_at = now()
    WHERE tasks.user_id = @user_id AND tasks.id = @task_id AND EXISTS (SELECT 1 FROM link)
    RETURNING tasks.version, tasks.updated_at
)
SELECT sqlc.embed(t),
       coalesce((SELECT touched.version FROM touched), t.version)::bigint AS version,
       coalesce((SELECT touched.updated_at FROM touched), t.updated_at)::timestamptz AS updated_at,
       ARRAY(SELECT merged.name FROM merged ORDER BY merged.name COLLATE "C")::text[] AS tags,
       (SELECT count(*) FROM merged) AS tag_count
FROM task_rows t
WHERE t.user_id = @user_id AND t.id = @task_id;

-- TaskTagRemove takes one tag off a task and, when it had it, gives the
-- task a new version (its ETag covers its tags).
-- name: TaskTagRemove :exec
WITH removed AS (
    DELETE FROM task_tags tt USING tags g
    WHERE tt.user_id = @user_id AND tt.task_id = @task_id
      AND g.user_id = tt.user_id AND g.id = tt.tag_id AND g.name = @name
    RETURNING tt.task_id
)
UPDATE tasks SET version = version + 1, updated_at = now()
WHERE tasks.user_id = @user_id AND tasks.id = @task_id AND EXISTS (SELECT 1 FROM removed);

-- name: TagGet :one
SELECT g.id, g.name, g.version, g.created_at,
       (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id) AS task_count
FROM tags g
WHERE g.user_id = @user_id AND g.id = @id;

-- name: TagLock :one
SELECT id, version FROM tags WHERE user_id = @user_id AND id = @id FOR UPDATE;

-- TagLockPair locks the two tags of a merge in id order (so that
-- concurrent merges do not deadlock) and says which exist.
-- name: TagLockPair :many
SELECT id FROM tags
WHERE user_id = @user_id AND id IN (@tag_id::bigint, @into_id::bigint)
ORDER BY id
FOR UPDATE;

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

-- TagRename renames a tag and, when the name changes, the ETag of every
-- task carrying it (their tag lists change); it answers the tag.
-- name: TagRename :one
WITH renamed AS (
    UPDATE tags SET name = @name, version = version + CASE WHEN name = @name THEN 0 ELSE 1 END
    WHERE tags.user_id = @user_id AND tags.id = @id
    RETURNING tags.id, tags.name, tags.version, tags.created_at
), touched AS (
    UPDATE tasks SET version = version + 1, updated_at = now()
    WHERE tasks.user_id = @user_id
      AND tasks.id IN (SELECT tt.task_id FROM task_tags tt WHERE tt.user_id = @user_id AND tt.tag_id = @id)
      AND EXISTS (SELECT 1 FROM tags g WHERE g.user_id = @user_id AND g.id = @id AND g.name <> @name)
)
SELECT r.id, r.name, r.version, r.created_at,
       (SELECT count(*) FROM task_tags tt WHERE tt.user_id = @user_id AND tt.tag_id = @id) AS task_count
FROM renamed r;

-- TagDelete deletes a tag, which a trigger (task_tags_cascade) takes off
-- every task; those tasks' ETags change.
-- name: TagDelete :exec
WITH touched AS (
    UPDATE tasks SET version = version + 1, updated_at = now()
    WHERE tasks.user_id = @user_id
      AND tasks.id IN (SELECT tt.task_id FROM task_tags tt WHERE tt.user_id = @user_id AND tt.tag_id = @id)
)
DELETE FROM tags WHERE tags.user_id = @user_id AND tags.id = @id;

-- TagMerge gives every task of tag_id the tag into_id instead, deletes
-- tag_id (a trigger drops its links) and answers the target.
-- name: TagMerge :one
WITH touched AS (
    UPDATE tasks SET version = version + 1, updated_at = now()
    WHERE tasks.user_id = @user_id
      AND tasks.id IN (SELECT tt.task_id FROM task_tags tt WHERE tt.user_id = @user_id AND tt.tag_id = @tag_id)
), moved AS (
    INSERT INTO task_tags (user_id, task_id, tag_id)
    SELECT src.user_id, src.task_id, @into_id::bigint FROM task_tags AS src
    WHERE src.user_id = @user_id AND src.tag_id = @tag_id
    ON CONFLICT DO NOTHING
    RETURNING task_id
), gone AS (
    DELETE FROM tags WHERE tags.user_id = @user_id AND tags.id = @tag_id
)
SELECT g.id, g.name, g.version, g.created_at,
       ((SELECT count(*) FROM task_tags tt WHERE tt.user_id = @user_id AND tt.tag_id = @into_id)
         + (SELECT count(*) FROM moved))::bigint AS task_count
FROM tags g
WHERE g.user_id = @user_id AND g.id = @into_id;

-- name: TagCleanup :execrows
DELETE FROM tags g
WHERE g.user_id = @user_id
  AND NOT EXISTS (SELECT 1 FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id);
