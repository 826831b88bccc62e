-- migrate:up

-- A transaction's events reach webhook_enqueue in the order they
-- happened (a task's task.created or task.updated before its
-- task.completed), but the join with webhooks gave the INSERT its rows in
-- whatever order the plan produced, so a delivery's id, and with it its
-- webhook-id, could put task.completed first. Events of one transaction
-- share its timestamp; the ids are what orders them for a receiver, so
-- they are now taken in the events' order.
CREATE OR REPLACE FUNCTION webhook_enqueue(events jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_type, payload)
    SELECT w.user_id, w.id, e.type,
           jsonb_build_object('type', e.type, 'timestamp', api_time(now()), 'data', e.data)
    FROM jsonb_array_elements(events) WITH ORDINALITY AS a(event, nth)
    CROSS JOIN LATERAL jsonb_to_record(a.event) AS e(user_id bigint, type text, data jsonb)
    JOIN webhooks w ON w.user_id = e.user_id AND w.enabled
                   AND (w.events @> ARRAY['*'] OR w.events @> ARRAY[e.type])
    WHERE e.data IS NOT NULL
    ORDER BY a.nth, w.id;
END
$$;

-- changes_updated aggregated its events without an order: each task's
-- task.updated now comes before its task.completed, tasks by id, as
-- changes_inserted already orders a create's.
CREATE OR REPLACE FUNCTION changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hooked boolean;
BEGIN
    WITH logged AS (
        INSERT INTO changes (user_id, entity_type, entity_id)
        SELECT n.user_id, TG_ARGV[0]::change_entity, n.id
        FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
        WHERE n.version <> o.version
    )
    SELECT EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows))
    INTO hooked;
    IF hooked THEN
        -- task.completed besides task.updated when a task's status became done.
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', e.user_id, 'type', e.type,
                                'data', webhook_data(TG_ARGV[0]::change_entity, e.user_id, e.id)) ORDER BY e.id, e.nth))
        FROM (
            SELECT n.user_id, n.id, TG_ARGV[0] || '.updated' AS type, 1 AS nth
            FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
            WHERE n.version <> o.version
            UNION ALL
            SELECT n.user_id, n.id, 'task.completed', 2
            FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
            WHERE TG_ARGV[0] = 'task' AND to_jsonb(n)->>'status' = 'done' AND to_jsonb(o)->>'status' <> 'done'
        ) e;
    END IF;
    RETURN NULL;
END
$$;

-- migrate:down

CREATE OR REPLACE FUNCTION webhook_enqueue(events jsonb) RETURNS void LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hooked boolean;
BEGIN
    WITH logged AS (
        INSERT INTO changes (user_id, entity_type, entity_id)
        SELECT n.user_id, TG_ARGV[0]::change_entity, n.id
        FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id AND o.id = n.id
        WHERE n.version <> o.version
    )
    SELECT EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows))
    INTO hooked;
    IF hooked THEN
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
