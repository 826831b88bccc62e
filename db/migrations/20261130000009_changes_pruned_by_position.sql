-- migrate:up

-- The pruner now cuts a prefix of the log by position (ChangesPrune), on
-- the position index: changed_at needs no index. The BRIN index of
-- 20261130000007 stopped narrowing anything after the first prune: the
-- pages pruning frees are reused by new rows, and a block range's
-- summary only widens, so every range came to span the oldest and the
-- newest rows and the pruner read most of the table (a review measured
-- 136 000 rows read to delete 10 000 after one prune and reuse).
DROP INDEX changes_changed_at_idx;

-- webhook_data (20261130000008) as PL/pgSQL raised CASE_NOT_FOUND for a
-- kind it does not know, where the SQL CASE gave NULL and the event was
-- skipped: an ELSE keeps that, should change_entity ever grow.
CREATE OR REPLACE FUNCTION webhook_data(kind change_entity, p_user_id bigint, p_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    data jsonb;
BEGIN
    CASE kind
    WHEN 'project' THEN
        SELECT jsonb_build_object('id', p.id, 'name', p.name, 'description', p.description, 'color', p.color,
            'is_archived', p.archived_at IS NOT NULL, 'archived_at', api_time(p.archived_at),
            'created_at', api_time(p.created_at), 'updated_at', api_time(p.updated_at))
        INTO data FROM projects p WHERE p.user_id = p_user_id AND p.id = p_id;
    WHEN 'task' THEN
        -- task_rows is the task's shape: every column but user_id and
        -- version (its ETag), timestamps as the API writes them.
        SELECT to_jsonb(t) - 'user_id' - 'version'
               || jsonb_build_object('completed_at', api_time(t.completed_at),
                                     'created_at', api_time(t.created_at), 'updated_at', api_time(t.updated_at))
        INTO data FROM task_rows t WHERE t.user_id = p_user_id AND t.id = p_id;
    WHEN 'tag' THEN
        SELECT jsonb_build_object('id', g.id, 'name', g.name,
            'task_count', (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id),
            'created_at', api_time(g.created_at))
        INTO data FROM tags g WHERE g.user_id = p_user_id AND g.id = p_id;
    WHEN 'comment' THEN
        SELECT jsonb_build_object('id', c.id, 'task_id', c.task_id, 'content', c.content,
            'created_at', api_time(c.created_at), 'updated_at', api_time(c.updated_at))
        INTO data FROM comments c WHERE c.user_id = p_user_id AND c.id = p_id;
    ELSE
        data := NULL; -- a kind without a payload: webhook_enqueue skips it
    END CASE;
    RETURN data;
END
$$;

-- migrate:down

CREATE INDEX changes_changed_at_idx ON changes USING brin (changed_at) WITH (autosummarize = on);

CREATE OR REPLACE FUNCTION webhook_data(kind change_entity, p_user_id bigint, p_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    data jsonb;
BEGIN
    CASE kind
    WHEN 'project' THEN
        SELECT jsonb_build_object('id', p.id, 'name', p.name, 'description', p.description, 'color', p.color,
            'is_archived', p.archived_at IS NOT NULL, 'archived_at', api_time(p.archived_at),
            'created_at', api_time(p.created_at), 'updated_at', api_time(p.updated_at))
        INTO data FROM projects p WHERE p.user_id = p_user_id AND p.id = p_id;
    WHEN 'task' THEN
        -- task_rows is the task's shape: every column but user_id and
        -- version (its ETag), timestamps as the API writes them.
        SELECT to_jsonb(t) - 'user_id' - 'version'
               || jsonb_build_object('completed_at', api_time(t.completed_at),
                                     'created_at', api_time(t.created_at), 'updated_at', api_time(t.updated_at))
        INTO data FROM task_rows t WHERE t.user_id = p_user_id AND t.id = p_id;
    WHEN 'tag' THEN
        SELECT jsonb_build_object('id', g.id, 'name', g.name,
            'task_count', (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id),
            'created_at', api_time(g.created_at))
        INTO data FROM tags g WHERE g.user_id = p_user_id AND g.id = p_id;
    WHEN 'comment' THEN
        SELECT jsonb_build_object('id', c.id, 'task_id', c.task_id, 'content', c.content,
            'created_at', api_time(c.created_at), 'updated_at', api_time(c.updated_at))
        INTO data FROM comments c WHERE c.user_id = p_user_id AND c.id = p_id;
    END CASE;
    RETURN data;
END
$$;
