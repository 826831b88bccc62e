-- migrate:up

-- task.completed went out only when an existing task's status became
-- done. The contract sets completed_at "whenever the status becomes done,
-- on create too", so a task created done has completed as well: a
-- receiver that subscribes to task.completed alone must hear of it. Its
-- task.created comes first. Nothing changes for a user without webhooks:
-- the queue is only built when the probe finds one.
CREATE OR REPLACE FUNCTION changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hooked boolean;
BEGIN
    WITH logged AS (
        INSERT INTO changes (user_id, entity_type, entity_id)
        SELECT user_id, TG_ARGV[0]::change_entity, id FROM new_rows
    )
    SELECT EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows))
    INTO hooked;
    IF hooked THEN
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', e.user_id, 'type', e.type,
                                'data', webhook_data(TG_ARGV[0]::change_entity, e.user_id, e.id)) ORDER BY e.id, e.nth))
        FROM (
            SELECT n.user_id, n.id, TG_ARGV[0] || '.created' AS type, 1 AS nth
            FROM new_rows n
            UNION ALL
            SELECT n.user_id, n.id, 'task.completed', 2
            FROM new_rows n
            WHERE TG_ARGV[0] = 'task' AND to_jsonb(n)->>'status' = 'done'
        ) e;
    END IF;
    RETURN NULL;
END
$$;

-- migrate:down

CREATE OR REPLACE FUNCTION changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hooked boolean;
BEGIN
    WITH logged AS (
        INSERT INTO changes (user_id, entity_type, entity_id)
        SELECT user_id, TG_ARGV[0]::change_entity, id FROM new_rows
    )
    SELECT EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM new_rows))
    INTO hooked;
    IF hooked THEN
        PERFORM webhook_enqueue(jsonb_agg(jsonb_build_object('user_id', n.user_id, 'type', TG_ARGV[0] || '.created',
                                'data', webhook_data(TG_ARGV[0]::change_entity, n.user_id, n.id))))
        FROM new_rows n;
    END IF;
    RETURN NULL;
END
$$;
