-- name: TaskGet :one
SELECT * FROM task_rows WHERE user_id = @user_id AND id = @id;

-- One page of tasks with every filter of GET /v1/tasks; an absent filter
-- is NULL (or an empty array) and drops out of the custom plan that the
-- caller asks for (db.CustomPlans).
-- name: TaskList :many
SELECT * FROM task_rows t
WHERE t.user_id = @user_id
  AND t.id > @after_id
  AND (sqlc.narg(project_id)::bigint IS NULL OR t.project_id = sqlc.narg(project_id))
  AND (sqlc.narg(parent_task_id)::bigint IS NULL OR t.parent_task_id = sqlc.narg(parent_task_id))
  AND (sqlc.narg(top_level)::bool IS NULL OR (t.parent_task_id IS NULL) = sqlc.narg(top_level))
  AND (cardinality(@statuses::task_status[]) = 0 OR t.status = ANY(@statuses::task_status[]))
  AND (cardinality(@priorities::task_priority[]) = 0 OR t.priority = ANY(@priorities::task_priority[]))
  AND (cardinality(@tags::text[]) = 0 OR t.id IN (
        SELECT tt.task_id FROM task_tags tt
        JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id
        WHERE tt.user_id = @user_id AND g.name = ANY(@tags::text[])
        GROUP BY tt.task_id
        HAVING count(*) = cardinality(@tags::text[])))
  AND (sqlc.narg(pattern)::text IS NULL
       OR lower(t.title) LIKE sqlc.narg(pattern)
       OR lower(t.description) LIKE sqlc.narg(pattern))
  AND (sqlc.narg(due_before)::date IS NULL OR t.due_date < sqlc.narg(due_before))
  AND (sqlc.narg(due_after)::date IS NULL OR t.due_date > sqlc.narg(due_after))
  AND (sqlc.narg(overdue)::bool IS NULL
       OR (t.due_date < @today::date AND t.status NOT IN ('done', 'cancelled')) IS TRUE = sqlc.narg(overdue))
ORDER BY t.id
LIMIT @max_rows;

-- TaskListByProject and TaskListAll are TaskList with no filter but the
-- project, and with none at all: the commonest pages, whose plans
-- PostgreSQL keeps per connection. TaskList's optional filters need a
-- custom plan each time (planned afresh, with a SET and a RESET around
-- it), about a quarter of a page's PostgreSQL time.
-- name: TaskListByProject :many
SELECT * FROM task_rows t
WHERE t.user_id = @user_id AND t.project_id = @project_id AND t.id > @after_id
ORDER BY t.id
LIMIT @max_rows;

-- name: TaskListAll :many
SELECT * FROM task_rows t
WHERE t.user_id = @user_id AND t.id > @after_id
ORDER BY t.id
LIMIT @max_rows;

-- TaskLock locks a task for a write and tells what its rules need: its
-- project's state and whether it has (open) subtasks.
-- name: TaskLock :one
SELECT t.id, t.project_id, t.parent_task_id, t.status, t.version,
       (p.archived_at IS NOT NULL)::bool AS project_archived,
       EXISTS (SELECT 1 FROM tasks s WHERE s.user_id = t.user_id AND s.parent_task_id = t.id)::bool AS has_subtasks,
       EXISTS (SELECT 1 FROM tasks s WHERE s.user_id = t.user_id AND s.parent_task_id = t.id
               AND s.status NOT IN ('done', 'cancelled'))::bool AS has_open_subtasks
FROM tasks t
JOIN projects p ON p.user_id = t.user_id AND p.id = t.project_id
WHERE t.user_id = @user_id AND t.id = @id
FOR UPDATE OF t;

-- TaskLockForPatch is TaskLock for a PATCH, which may also move the task:
-- it checks where the task is to go (target_project_id, or the current
-- project; target_parent_id when parent_set, or the current parent) and
-- locks the target project and parent FOR SHARE, against a concurrent
-- archive or completion. A target that is not there reads as not found.
-- name: TaskLockForPatch :one
WITH cur AS (
    SELECT t.* FROM tasks t WHERE t.user_id = @user_id AND t.id = @id FOR UPDATE
), target AS (
    SELECT coalesce(sqlc.narg(target_project_id)::bigint, cur.project_id) AS project_id,
           CASE WHEN @parent_set::bool THEN sqlc.narg(target_parent_id)::bigint ELSE cur.parent_task_id END AS parent_id
    FROM cur
), project AS (
    SELECT pr.archived_at FROM projects pr, target
    WHERE pr.user_id = @user_id AND pr.id = target.project_id
    FOR SHARE OF pr
), parent AS (
    SELECT pt.project_id, pt.parent_task_id, pt.status FROM tasks pt, target
    WHERE target.parent_id IS NOT NULL
      AND pt.user_id = @user_id AND pt.id = target.parent_id
    FOR SHARE OF pt
)
SELECT cur.id, cur.project_id, cur.parent_task_id, cur.status, cur.version,
       (SELECT p.archived_at IS NOT NULL FROM projects p
        WHERE p.user_id = cur.user_id AND p.id = cur.project_id)::bool AS project_archived,
       EXISTS (SELECT 1 FROM tasks s WHERE s.user_id = cur.user_id AND s.parent_task_id = cur.id)::bool AS has_subtasks,
       EXISTS (SELECT 1 FROM tasks s WHERE s.user_id = cur.user_id AND s.parent_task_id = cur.id
               AND s.status NOT IN ('done', 'cancelled'))::bool AS has_open_subtasks,
       EXISTS (SELECT 1 FROM project)::bool AS target_project_found,
       coalesce((SELECT project.archived_at IS NOT NULL FROM project), false)::bool AS target_project_archived,
       EXISTS (SELECT 1 FROM parent)::bool AS target_parent_found,
       coalesce((SELECT parent.project_id FROM parent), 0)::bigint AS target_parent_project_id,
       coalesce((SELECT parent.parent_task_id IS NOT NULL FROM parent), false)::bool AS target_parent_is_subtask,
       coalesce((SELECT parent.status = 'done' FROM parent), false)::bool AS target_parent_done
FROM cur;

-- TaskCreate creates a task with its tags in one statement and answers
-- it as task_rows would, plus what the hierarchy rules need to know about
-- where it went (the project and parent rows stay locked FOR SHARE until
-- commit, against a concurrent archive or completion). Bad references
-- fail on the foreign keys; the caller rolls back when a rule refuses.
-- names are the task's normalized tag names in code point order; unknown
-- ones are created (tag_ids).
-- name: TaskCreate :one
WITH project AS (
    SELECT pr.archived_at FROM projects pr
    WHERE pr.user_id = @user_id AND pr.id = @project_id
    FOR SHARE
), parent AS (
    -- Only when there is a parent: a lookup of a NULL id still reads the
    -- index page where the user's next task id goes, and under
    -- SERIALIZABLE that read conflicts with every concurrent create.
    SELECT pt.parent_task_id, pt.status FROM tasks pt
    WHERE sqlc.narg(parent_task_id)::bigint IS NOT NULL
      AND pt.user_id = @user_id AND pt.id = sqlc.narg(parent_task_id)::bigint
    FOR SHARE
), new_task AS (
    INSERT INTO tasks (user_id, project_id, parent_task_id, title, description,
                       status, priority, due_date, estimated_hours, completed_at)
    VALUES (@user_id, @project_id, sqlc.narg(parent_task_id), @title, sqlc.narg(description),
            @status, @priority, sqlc.narg(due_date), sqlc.narg(estimated_hours),
            CASE WHEN @status::task_status = 'done' THEN now() END)
    RETURNING *
), link AS (
    INSERT INTO task_tags (user_id, task_id, tag_id)
    SELECT @user_id, new_task.id, tag_id FROM new_task, unnest(tag_ids(@user_id, @names::text[])) AS tag_id
), task_rows AS (
    -- The new task as the view task_rows shows a task, under the view's
    -- name so that sqlc.embed(task_rows) answers it as db.TaskRow: the
    -- view cannot see this statement's insert, so its derived columns are
    -- what the statement knows (the tags it links; no subtasks or
    -- comments yet). The columns are the view's, in its order.
    SELECT new_task.*,
           @names::text[] AS tags,
           0::bigint AS subtask_count,
           0::bigint AS comment_count
    FROM new_task
)
-- The task, then the placement.
SELECT sqlc.embed(task_rows),
       coalesce((SELECT project.archived_at IS NOT NULL FROM project), false)::bool AS project_archived,
       coalesce((SELECT parent.parent_task_id IS NOT NULL FROM parent), false)::bool AS parent_is_subtask,
       coalesce((SELECT parent.status = 'done' FROM parent), false)::bool AS parent_done
FROM task_rows;

-- Merge patch of a task's own columns. completed_at follows status: set
-- when it becomes done, kept while it stays done, cleared when it leaves.
-- It answers the task as task_rows shows it, saving a read: its own
-- columns as written, the view's tags and counts as of the statement's
-- snapshot (the view cannot see the update).
-- With tags_set the same statement makes the task's tags exactly names
-- (creating unknown ones, tag_ids); the returned tags are then
-- the old ones, as the statement's snapshot saw them, and the caller
-- answers with names.
-- name: TaskUpdate :one
WITH gone AS (
    DELETE FROM task_tags tt USING tags g
    WHERE @tags_set::bool AND tt.user_id = @user_id AND tt.task_id = @id
      AND g.user_id = tt.user_id AND g.id = tt.tag_id
      AND NOT (g.name = ANY(@names::text[]))
), tag AS (
    SELECT unnest(tag_ids(@user_id, @names::text[])) AS id WHERE @tags_set::bool
), link AS (
    INSERT INTO task_tags (user_id, task_id, tag_id)
    SELECT @user_id, @id, tag.id FROM tag
    ON CONFLICT DO NOTHING
), updated AS (
    UPDATE tasks SET
        project_id      = CASE WHEN @project_id_set::bool THEN @project_id::bigint ELSE project_id END,
        parent_task_id  = CASE WHEN @parent_task_id_set::bool THEN sqlc.narg(parent_task_id)::bigint ELSE parent_task_id END,
        title           = CASE WHEN @title_set::bool THEN @title::text ELSE title END,
        description     = CASE WHEN @description_set::bool THEN sqlc.narg(description)::text ELSE description END,
        status          = CASE WHEN @status_set::bool THEN @status::task_status ELSE status END,
        priority        = CASE WHEN @priority_set::bool THEN sqlc.narg(priority)::task_priority ELSE priority END,
        due_date        = CASE WHEN @due_date_set::bool THEN sqlc.narg(due_date)::date ELSE due_date END,
        estimated_hours = CASE WHEN @estimated_hours_set::bool THEN sqlc.narg(estimated_hours)::numeric ELSE estimated_hours END,
        completed_at    = CASE
            WHEN NOT @status_set::bool THEN completed_at
            WHEN @status::task_status <> 'done' THEN NULL
            ELSE coalesce(completed_at, now()) END,
        version         = version + 1,
        updated_at      = now()
    WHERE tasks.user_id = @user_id AND tasks.id = @id
    RETURNING tasks.*
)
SELECT updated.*, v.tags, v.subtask_count, v.comment_count
FROM updated
JOIN task_rows v ON v.user_id = updated.user_id AND v.id = updated.id;

-- Subtasks, comments and tag links go with it (ON DELETE CASCADE).
-- name: TaskDelete :exec
DELETE FROM tasks WHERE user_id = @user_id AND id = @id;

-- name: ProjectStats :one
SELECT count(t.id) AS total_tasks,
       count(t.id) FILTER (WHERE t.status = 'todo') AS todo_tasks,
       count(t.id) FILTER (WHERE t.status = 'in_progress') AS in_progress_tasks,
       count(t.id) FILTER (WHERE t.status = 'done') AS done_tasks,
       count(t.id) FILTER (WHERE t.status = 'cancelled') AS cancelled_tasks,
       count(t.id) FILTER (WHERE t.due_date < @today::date AND t.status NOT IN ('done', 'cancelled')) AS overdue_tasks,
       coalesce(round(100.0 * count(t.id) FILTER (WHERE t.status = 'done')
             / nullif(count(t.id) FILTER (WHERE t.status <> 'cancelled'), 0), 2), 0)::numeric AS completion_percentage,
       coalesce(sum(t.estimated_hours) FILTER (WHERE t.status <> 'cancelled'), 0)::numeric AS estimated_hours_total,
       coalesce(sum(t.estimated_hours) FILTER (WHERE t.status = 'done'), 0)::numeric AS estimated_hours_done
FROM projects p
LEFT JOIN tasks t ON t.user_id = p.user_id AND t.project_id = p.id
WHERE p.user_id = @user_id AND p.id = @project_id
GROUP BY p.id;
