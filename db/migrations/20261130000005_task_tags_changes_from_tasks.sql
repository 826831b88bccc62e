-- migrate:up

-- A task's tags are part of the task (its ETag covers them), and every
-- statement that adds or removes a link also writes the task row in the
-- same statement: TaskCreate inserts it; TaskUpdate, TaskTagsAdd (when a
-- link is new), TaskTagRemove (when one went), TagRename, TagDelete and
-- TagMerge bump its version; deleting it deletes the row. So the tasks
-- triggers already record each such change in the same transaction, and
-- the task_tags triggers only wrote a second change row for it (a create
-- with tags wrote its task twice). They go: one trigger and one change
-- row fewer for every write that touches tags. The api tests that check
-- that a tag rename, merge or delete records every task whose tags
-- changed still pass on the task rows' own changes.
DROP TRIGGER task_tags_inserted ON task_tags;
DROP TRIGGER task_tags_updated ON task_tags;
DROP TRIGGER task_tags_deleted ON task_tags;
DROP FUNCTION changes_task_tags_added();
DROP FUNCTION changes_task_tags_updated();
DROP FUNCTION changes_task_tags_removed();

-- migrate:down

CREATE FUNCTION changes_task_tags_added() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT DISTINCT user_id, 'task'::change_entity, task_id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_task_tags_removed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT DISTINCT user_id, 'task'::change_entity, task_id FROM old_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_task_tags_updated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, 'task'::change_entity, task_id FROM new_rows
    UNION SELECT user_id, 'task'::change_entity, task_id FROM old_rows;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_tags_inserted AFTER INSERT ON task_tags
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_added();
CREATE TRIGGER task_tags_updated AFTER UPDATE ON task_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_updated();
CREATE TRIGGER task_tags_deleted AFTER DELETE ON task_tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_task_tags_removed();
