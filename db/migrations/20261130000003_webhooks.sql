-- migrate:up

-- Webhooks: a user's subscriptions to their change events, delivered per
-- the Standard Webhooks specification. The secret signs deliveries, so it
-- must be kept, but never in a form a copy of the database yields: it is
-- sealed with the server's key (WEBHOOK_SECRET_KEY) before it is stored.
CREATE TABLE webhooks (
    user_id         bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    url             text NOT NULL,
    events          text[] NOT NULL,
    description     text,
    secret_sealed   bytea NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT webhooks_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT webhooks_url_check CHECK (char_length(url) BETWEEN 1 AND 2000),
    CONSTRAINT webhooks_description_check CHECK (char_length(description) <= 1000),
    CONSTRAINT webhooks_events_check CHECK (cardinality(events) BETWEEN 1 AND 20)
);
CREATE INDEX webhooks_enabled_idx ON webhooks (user_id) WHERE enabled;

-- The outbox: one row per event and subscribed webhook, written by the
-- change triggers in the transaction of the change (so a delivery exists
-- exactly when the change committed), deleted once delivered. Workers
-- claim due rows with FOR UPDATE SKIP LOCKED and lease them by moving
-- next_attempt_at past the delivery timeout, so each is sent by one
-- replica at a time; a replica that dies mid-delivery leaves the lease to
-- expire and another retries (at least once).
CREATE TABLE webhook_deliveries (
    user_id         bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id      bigint NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    first_failed_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (user_id, webhook_id)
        REFERENCES webhooks (user_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at);

-- The delivery log: every attempt, for GET /v1/webhooks/{id}/deliveries.
CREATE TABLE webhook_attempts (
    user_id     bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id  bigint NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    attempt     integer NOT NULL,
    status_code integer,
    error       text,
    duration_ms integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT webhook_attempts_webhook_id_fkey FOREIGN KEY (user_id, webhook_id)
        REFERENCES webhooks (user_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (user_id, webhook_id, id DESC);

-- api_time writes a timestamp as the API does: RFC 3339 in UTC.
CREATE FUNCTION api_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- webhook_data is an entity as its GET returns it, for a delivery's data:
-- deliveries carry the entity as of the change, so it is taken in the
-- change's transaction. NULL when it is gone.
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

-- webhook_events queues the deliveries of a statement's events: one row per
-- event and enabled webhook subscribed to it ("*" or its name). Events are
-- (user_id, type, data) rows; a user without webhooks costs one index probe.
-- No NOTIFY (it would make notifying commits take turns): deliverers poll.
CREATE FUNCTION webhook_enqueue(events jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_type, payload)
    SELECT w.user_id, w.id, e.type,
           jsonb_build_object('type', e.type, 'timestamp', api_time(now()), 'data', e.data)
    FROM jsonb_to_recordset(events) AS e(user_id bigint, type text, data jsonb)
    JOIN webhooks w ON w.user_id = e.user_id AND w.enabled
                   AND (w.events @> ARRAY['*'] OR w.events @> ARRAY[e.type])
    WHERE e.data IS NOT NULL;
$$;

CREATE OR REPLACE FUNCTION changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM new_rows;
    IF EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows)) THEN
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', n.user_id, 'type', TG_ARGV[0] || '.created',
                                'data', webhook_data(TG_ARGV[0]::change_entity, n.user_id, n.id))))
        FROM new_rows n;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT n.user_id, TG_ARGV[0]::change_entity, n.id
    FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
    WHERE n.version <> o.version;
    IF EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows)) THEN
        -- task.completed besides task.updated when a task's status became done.
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', e.user_id, 'type', e.type,
                                'data', webhook_data(TG_ARGV[0]::change_entity, e.user_id, e.id))))
        FROM (
            SELECT n.user_id, n.id, TG_ARGV[0] || '.updated' AS type
            FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
            WHERE n.version <> o.version
            UNION ALL
            SELECT n.user_id, n.id, 'task.completed'
            FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
            WHERE TG_ARGV[0] = 'task' AND to_jsonb(n)->>'status' = 'done' AND to_jsonb(o)->>'status' <> 'done'
        ) e;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION changes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM old_rows;
    IF EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM old_rows)) THEN
        -- A delete's data is the id and, for a task, its project.
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', o.user_id, 'type', TG_ARGV[0] || '.deleted',
                                'data', jsonb_build_object('id', o.id)
                                        || CASE WHEN TG_ARGV[0] = 'task'
                                           THEN jsonb_build_object('project_id', (to_jsonb(o)->>'project_id')::bigint)
                                           ELSE '{}'::jsonb END)))
        FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;

-- migrate:down

CREATE OR REPLACE FUNCTION changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT n.user_id, TG_ARGV[0]::change_entity, n.id
    FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
    WHERE n.version <> o.version;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION changes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (user_id, entity_type, entity_id)
    SELECT user_id, TG_ARGV[0]::change_entity, id FROM old_rows;
    RETURN NULL;
END
$$;

DROP FUNCTION webhook_enqueue(jsonb);
DROP FUNCTION webhook_data(change_entity, bigint, bigint);
DROP FUNCTION api_time(timestamptz);
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
