-- migrate:up

-- What a write of a user with a webhook pays to queue its deliveries,
-- made cheaper the way tag_ids was (20261130000006): PostgreSQL 15 plans
-- a LANGUAGE sql function it cannot inline afresh at every call.
-- webhook_enqueue writes and webhook_data's CASE of subqueries is no
-- single expression, so neither is inlined; they become PL/pgSQL, whose
-- plans are kept per connection (webhook_data planned the task_rows view
-- and three other lookups at every event: about 1 ms of each create of a
-- user with a webhook). webhook_data's branches are separate statements,
-- so an event plans and runs only its own kind's, and an ELSE keeps the
-- SQL CASE's NULL (no delivery) for a kind it does not list. api_time was declared
-- IMMUTABLE around to_char, which is only STABLE, and PostgreSQL does not
-- inline a function declared less volatile than its body: STABLE, as it
-- is, lets it be inlined. It also writes the fraction of a second as the
-- API does (Go's RFC 3339 with nanoseconds: trailing zeros dropped, no
-- fraction when it is zero), so that a delivery's timestamps are the very
-- strings GET returns ("…15.87666Z", not "…15.876660Z").
CREATE OR REPLACE FUNCTION api_time(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT rtrim(rtrim(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z'
$$;

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

DROP FUNCTION webhook_enqueue(jsonb);
CREATE FUNCTION webhook_enqueue(events jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_type, payload)
    SELECT w.user_id, w.id, e.type,
           jsonb_build_object('type', e.type, 'timestamp', api_time(now()), 'data', e.data)
    FROM jsonb_to_recordset(events) AS e(user_id bigint, type text, data jsonb)
    JOIN webhooks w ON w.user_id = e.user_id AND w.enabled
                   AND (w.events @> ARRAY['*'] OR w.events @> ARRAY[e.type])
    WHERE e.data IS NOT NULL;
END
$$;

-- migrate:down

DROP FUNCTION webhook_data(change_entity, bigint, bigint);
CREATE FUNCTION webhook_data(kind change_entity, p_user_id bigint, p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE kind
    WHEN 'project' THEN (
        SELECT jsonb_build_object('id', p.id, 'name', p.name, 'description', p.description, 'color', p.color,
            'is_archived', p.archived_at IS NOT NULL, 'archived_at', api_time(p.archived_at),
            'created_at', api_time(p.created_at), 'updated_at', api_time(p.updated_at))
        FROM projects p WHERE p.user_id = p_user_id AND p.id = p_id)
    WHEN 'task' THEN (
        -- task_rows is the task's shape: every column but user_id and
        -- version (its ETag), timestamps as the API writes them.
        SELECT to_jsonb(t) - 'user_id' - 'version'
               || jsonb_build_object('completed_at', api_time(t.completed_at),
                                     'created_at', api_time(t.created_at), 'updated_at', api_time(t.updated_at))
        FROM task_rows t WHERE t.user_id = p_user_id AND t.id = p_id)
    WHEN 'tag' THEN (
        SELECT jsonb_build_object('id', g.id, 'name', g.name,
            'task_count', (SELECT count(*) FROM task_tags tt WHERE tt.user_id = g.user_id AND tt.tag_id = g.id),
            'created_at', api_time(g.created_at))
        FROM tags g WHERE g.user_id = p_user_id AND g.id = p_id)
    WHEN 'comment' THEN (
        SELECT jsonb_build_object('id', c.id, 'task_id', c.task_id, 'content', c.content,
            'created_at', api_time(c.created_at), 'updated_at', api_time(c.updated_at))
        FROM comments c WHERE c.user_id = p_user_id AND c.id = p_id)
    END
$$;

DROP FUNCTION webhook_enqueue(jsonb);
CREATE FUNCTION webhook_enqueue(events jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_type, payload)
    SELECT w.user_id, w.id, e.type,
           jsonb_build_object('type', e.type, 'timestamp', api_time(now()), 'data', e.data)
    FROM jsonb_to_recordset(events) AS e(user_id bigint, type text, data jsonb)
    JOIN webhooks w ON w.user_id = e.user_id AND w.enabled
                   AND (w.events @> ARRAY['*'] OR w.events @> ARRAY[e.type])
    WHERE e.data IS NOT NULL;
$$;

CREATE OR REPLACE FUNCTION api_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
