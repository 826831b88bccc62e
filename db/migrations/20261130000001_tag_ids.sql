-- migrate:up

-- tag_ids is the one place tags are found or created by name: it answers
-- the ids of the caller's tags named p_names, creating the missing ones.
-- Existing tags are only read, never updated, so that concurrent writes
-- naming the same tag do not contend for its row (every write runs
-- SERIALIZABLE, where two updates of one row abort one of them). Two
-- transactions creating the same new name at once conflict on the unique
-- key, and under SERIALIZABLE the loser's ON CONFLICT DO NOTHING aborts
-- with 40001 instead of skipping the row: its retry finds the tag.
CREATE FUNCTION tag_ids(p_user_id bigint, p_names text[]) RETURNS bigint[]
LANGUAGE sql VOLATILE AS $$
    -- Insert first, then look up only the names that already existed: a
    -- lookup of a name that is not there yet reads (under SERIALIZABLE,
    -- predicate-locks) the index page where concurrent creates insert
    -- their new names, which made every pair of them conflict.
    WITH created AS (
        INSERT INTO tags (user_id, name)
        SELECT p_user_id, n FROM unnest(p_names) AS n
        ORDER BY n COLLATE "C"
        ON CONFLICT (user_id, name) DO NOTHING
        RETURNING id, name
    )
    SELECT ARRAY(
        SELECT id FROM created
        UNION ALL
        SELECT g.id FROM tags g
        WHERE g.user_id = p_user_id
          AND g.name = ANY (ARRAY(SELECT n FROM unnest(p_names) AS n
                                  WHERE n NOT IN (SELECT name FROM created))))
$$;

-- migrate:down

DROP FUNCTION tag_ids(bigint, text[]);
