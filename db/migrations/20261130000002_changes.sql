-- migrate:up

-- The change log: one row per change to a user's projects, tasks, tags
-- and comments, written by triggers in the transaction of the change, so
-- that no write path can forget it and cascades (a forced project delete,
-- a tag deleted from its tasks) are recorded like direct writes. It feeds
-- GET /v1/changes and the SSE stream.
--
-- Commit order is not insertion order: a transaction that began earlier
-- can commit later with smaller ids. Each row therefore carries its
-- transaction's id (xid), and a reader only returns rows whose xid is
-- below the oldest transaction still running (pg_snapshot_xmin), in
-- (xid, id) order: every transaction below that horizon has ended, so no
-- row can later appear before a position already handed out.
CREATE TYPE change_entity AS ENUM ('project', 'task', 'tag', 'comment');

CREATE TABLE changes (
    user_id     bigint NOT NULL,
    xid         bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    entity_type change_entity NOT NULL,
    entity_id   bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT changes_pkey PRIMARY KEY (user_id, xid, id)
);
CREATE INDEX changes_changed_at_idx ON changes (changed_at);
-- Every process polls the log by position for the users whose streams
-- to wake (api/changestream.go).
CREATE INDEX changes_position_idx ON changes (xid, id);

-- What pruning has removed: a cursor at or below pruned_xid points into
-- the part of the log that is gone (410).
CREATE TABLE change_log (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_xid bigint NOT NULL DEFAULT 0
);
INSERT INTO change_log DEFAULT VALUES;

-- The triggers record the rows a statement touched, once per statement
-- (transition tables, static SQL). They send no NOTIFY: PostgreSQL lets
-- one notifying transaction commit at a time (a database-wide lock held
-- through the commit's flush), which capped writes at a few hundred a
-- second; streams learn of changes by polling the log instead.
-- TG_ARGV[0] is the entity type. A task's tags are part of the task, so
-- task_tags changes record the task. Updates count only when the row's
-- version moved: idempotent no-op updates (archiving twice) are not
-- changes, and derived counts (subtask_count, task_count, ...) are never
-- columns of the rows that change, so they record nothing of their own.
CREATE FUNCTION changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT n.user_id, TG_ARGV[0]::change_entity, n.id
    FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
    WHERE n.version <> o.version;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM old_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_task_tags_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT DISTINCT user_id, 'task'::change_entity, task_id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_task_tags_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, 'task'::change_entity, task_id FROM new_rows
    UNION SELECT user_id, 'task'::change_entity, task_id FROM old_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_task_tags_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT DISTINCT user_id, 'task'::change_entity, task_id FROM old_rows;
    RETURN NULL;
END
$$;

CREATE TRIGGER projects_inserted AFTER INSERT ON projects REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_inserted('project');
CREATE TRIGGER projects_updated AFTER UPDATE ON projects REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_updated('project');
CREATE TRIGGER projects_deleted AFTER DELETE ON projects REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_deleted('project');

CREATE TRIGGER tasks_inserted AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_inserted('task');
CREATE TRIGGER tasks_updated AFTER UPDATE ON tasks REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_updated('task');
CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_deleted('task');

CREATE TRIGGER tags_inserted AFTER INSERT ON tags REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_inserted('tag');
CREATE TRIGGER tags_updated AFTER UPDATE ON tags REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_updated('tag');
CREATE TRIGGER tags_deleted AFTER DELETE ON tags REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_deleted('tag');

CREATE TRIGGER comments_inserted AFTER INSERT ON comments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_inserted('comment');
CREATE TRIGGER comments_updated AFTER UPDATE ON comments REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_updated('comment');
CREATE TRIGGER comments_deleted AFTER DELETE ON comments REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_deleted('comment');

CREATE TRIGGER task_tags_inserted AFTER INSERT ON task_tags REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_added();
CREATE TRIGGER task_tags_updated AFTER UPDATE ON task_tags REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_updated();
CREATE TRIGGER task_tags_deleted AFTER DELETE ON task_tags REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_removed();

-- migrate:down

DROP TRIGGER comments_deleted ON comments;
DROP TRIGGER comments_updated ON comments;
DROP TRIGGER comments_inserted ON comments;
DROP TRIGGER tags_deleted ON tags;
DROP TRIGGER tags_updated ON tags;
DROP TRIGGER tags_inserted ON tags;
DROP TRIGGER task_tags_deleted ON task_tags;
DROP TRIGGER task_tags_updated ON task_tags;
DROP TRIGGER task_tags_inserted ON task_tags;
DROP TRIGGER tasks_deleted ON tasks;
DROP TRIGGER tasks_updated ON tasks;
DROP TRIGGER tasks_inserted ON tasks;
DROP TRIGGER projects_deleted ON projects;
DROP TRIGGER projects_updated ON projects;
DROP TRIGGER projects_inserted ON projects;
DROP FUNCTION changes_task_tags_removed();
DROP FUNCTION changes_task_tags_updated();
DROP FUNCTION changes_task_tags_added();
DROP FUNCTION changes_deleted();
DROP FUNCTION changes_updated();
DROP FUNCTION changes_inserted();
DROP TABLE change_log;
DROP TABLE changes;
DROP TYPE change_entity;
