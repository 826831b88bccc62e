-- ChangesPage is one page of a user's change feed after the position
-- (after_xid, after_id): each entity once, at its latest change, in the
-- order of those changes, with the entity as its GET shows it now (the
-- columns of its type; all NULL when it is gone). Only changes of
-- transactions below the horizon (the oldest transaction still running)
-- are read: every one of those has ended, so nothing can commit later at
-- a position before one handed out. horizon, pruned_xid and held_back
-- come along, from the same snapshot as the page (a later statement's
-- horizon could pass a transaction that this one did not see commit): an
-- empty page is one row with a NULL entity.
--
-- The task comes as one value of the view's row type, task_rows (NULL for
-- the other entity types and for a deleted task), which pgx scans into
-- db.TaskRow as every other task query answers it: the pool registers
-- that type on each connection (db.PoolConfig), and sqlc.yaml maps it to
-- *TaskRow. So a task's shape is written once, in the view. (The CASE
-- makes a missing task NULL rather than a row of NULLs, and is written
-- NULL first so that sqlc types the column as task_rows.)
-- name: ChangesPage :many
WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin
), latest AS (
    SELECT DISTINCT ON (c.entity_type, c.entity_id) c.user_id, c.entity_type, c.entity_id, c.xid, c.id, c.changed_at
    FROM changes c
    WHERE c.user_id = @user_id
      AND (c.xid, c.id) > (@after_xid::bigint, @after_id::bigint)
      AND c.xid < (SELECT xmin FROM horizon)
    ORDER BY c.entity_type, c.entity_id, c.xid DESC, c.id DESC
), page AS (
    SELECT * FROM latest ORDER BY xid, id LIMIT @max_rows
)
SELECT page.user_id, page.entity_type, page.entity_id, page.xid, page.id, page.changed_at,
       horizon.xmin::bigint AS horizon,
       (SELECT pruned_xid FROM change_log)::bigint AS pruned_xid,
       EXISTS (SELECT 1 FROM changes h WHERE h.user_id = @user_id AND h.xid >= (SELECT xmin FROM horizon))::bool AS held_back,
       p.name AS project_name, p.description AS project_description, p.color AS project_color,
       p.archived_at AS project_archived_at, p.version AS project_version,
       p.created_at AS project_created_at, p.updated_at AS project_updated_at,
       CASE WHEN t.id IS NULL THEN NULL ELSE ROW(t.*)::task_rows END AS task,
       g.name AS tag_name, g.version AS tag_version, g.created_at AS tag_created_at,
       (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id) AS tag_task_count,
       cm.task_id AS comment_task_id, cm.content AS comment_content, cm.version AS comment_version,
       cm.created_at AS comment_created_at, cm.updated_at AS comment_updated_at
FROM horizon
LEFT JOIN page ON true
LEFT JOIN projects p ON page.entity_type = 'project' AND p.user_id = @user_id AND p.id = page.entity_id
LEFT JOIN task_rows t ON page.entity_type = 'task' AND t.user_id = @user_id AND t.id = page.entity_id
LEFT JOIN tags g ON page.entity_type = 'tag' AND g.user_id = @user_id AND g.id = page.entity_id
LEFT JOIN comments cm ON page.entity_type = 'comment' AND cm.user_id = @user_id AND cm.id = page.entity_id
ORDER BY page.xid, page.id;

-- ChangesHorizon is the position now (every change of a transaction
-- below it has ended) and, for an empty page, what ChangesPage would have
-- said besides: where the log starts, and whether the user has changes
-- committed but held back behind an older running transaction.
-- name: ChangesHorizon :one
WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin
)
SELECT (SELECT xmin FROM horizon)::bigint AS horizon,
       (SELECT pruned_xid FROM change_log)::bigint AS pruned_xid,
       EXISTS (SELECT 1 FROM changes h WHERE h.user_id = @user_id AND h.xid >= (SELECT xmin FROM horizon))::bool AS held_back;

-- ChangesPrune deletes the changes in log order up to the first one made
-- at or after before (all of them when there is none), and moves the log's
-- start past them, in one statement, off the request path. It cuts a
-- prefix of the log, found on the position index by reading only what it
-- deletes, so changed_at needs no index of its own (every write would
-- pay for it; a BRIN one no longer narrows anything once the pruned
-- pages are reused). A change older than before that comes after that
-- point in log order (its transaction ran long) stays until a later run:
-- the retention is a minimum.
-- name: ChangesPrune :one
WITH cutoff AS (
    SELECT c.xid, c.id FROM changes c
    WHERE c.changed_at >= @before
    ORDER BY c.xid, c.id
    LIMIT 1
), gone AS (
    DELETE FROM changes c
    WHERE (c.xid, c.id) < (coalesce((SELECT xid FROM cutoff), 9223372036854775807),
                           coalesce((SELECT id FROM cutoff), 9223372036854775807))
    RETURNING c.xid
), moved AS (
    UPDATE change_log SET pruned_xid = greatest(pruned_xid, (SELECT max(xid) FROM gone))
    WHERE EXISTS (SELECT 1 FROM gone)
)
SELECT count(*) FROM gone;

-- ChangesTouched is what each process's stream poller reads first: the
-- users with changes after the position (after_xid, after_id) and below
-- the horizon, and the horizon itself, from one snapshot (an empty result
-- is one row with a NULL user). It reads the log alone, so a process
-- whose users have no streams open pays little to follow it.
-- name: ChangesTouched :many
WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin
), touched AS (
    SELECT DISTINCT c.user_id FROM changes c
    WHERE (c.xid, c.id) > (@after_xid::bigint, @after_id::bigint)
      AND c.xid < (SELECT xmin FROM horizon)
)
SELECT horizon.xmin::bigint AS horizon, touched.user_id
FROM horizon LEFT JOIN touched ON true;

-- ChangesFanOut is what the poller reads next, for the touched users who
-- have streams open in its process: ChangesPage for all of them at once
-- (each user's changes after the position and below the horizon that
-- ChangesTouched gave, each entity once per user at its latest change, in
-- the order of those changes, with the entity as its GET shows it now),
-- so that the streams that are caught up take their events from it
-- rather than each reading the log again. Every transaction below that
-- horizon had ended when ChangesTouched ran, so this later snapshot sees
-- the same changes below it. Its columns are ChangesPage's, in the same
-- order, so that one mapping serves both (a row converts to
-- db.ChangesPageRow); held_back is false, since the poller itself reads
-- on past the horizon at its next turn.
-- name: ChangesFanOut :many
WITH horizon AS (
    SELECT @horizon::bigint AS xmin
), latest AS (
    SELECT DISTINCT ON (c.user_id, c.entity_type, c.entity_id) c.user_id, c.entity_type, c.entity_id, c.xid, c.id, c.changed_at
    FROM changes c
    WHERE (c.xid, c.id) > (@after_xid::bigint, @after_id::bigint)
      AND c.xid < @horizon::bigint
      AND c.user_id = ANY (@user_ids::bigint[])
    ORDER BY c.user_id, c.entity_type, c.entity_id, c.xid DESC, c.id DESC
), page AS (
    SELECT * FROM latest ORDER BY xid, id LIMIT @max_rows
)
SELECT page.user_id, page.entity_type, page.entity_id, page.xid, page.id, page.changed_at,
       horizon.xmin::bigint AS horizon,
       (SELECT pruned_xid FROM change_log)::bigint AS pruned_xid,
       false::bool AS held_back,
       p.name AS project_name, p.description AS project_description, p.color AS project_color,
       p.archived_at AS project_archived_at, p.version AS project_version,
       p.created_at AS project_created_at, p.updated_at AS project_updated_at,
       CASE WHEN t.id IS NULL THEN NULL ELSE ROW(t.*)::task_rows END AS task,
       g.name AS tag_name, g.version AS tag_version, g.created_at AS tag_created_at,
       (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id) AS tag_task_count,
       cm.task_id AS comment_task_id, cm.content AS comment_content, cm.version AS comment_version,
       cm.created_at AS comment_created_at, cm.updated_at AS comment_updated_at
FROM horizon
LEFT JOIN page ON true
LEFT JOIN projects p ON page.entity_type = 'project' AND p.user_id = page.user_id AND p.id = page.entity_id
LEFT JOIN task_rows t ON page.entity_type = 'task' AND t.user_id = page.user_id AND t.id = page.entity_id
LEFT JOIN tags g ON page.entity_type = 'tag' AND g.user_id = page.user_id AND g.id = page.entity_id
LEFT JOIN comments cm ON page.entity_type = 'comment' AND cm.user_id = page.user_id AND cm.id = page.entity_id
ORDER BY page.xid, page.id;
