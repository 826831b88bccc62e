-- migrate:up

-- tag_ids becomes PL/pgSQL, with the same statement. PostgreSQL 15 plans
-- the body of a LANGUAGE sql function that it cannot inline (this one
-- writes) afresh at every call: parse, rewrite and plan of a CTE with an
-- INSERT ... ON CONFLICT, a UNION and two subqueries, for every create
-- and every tagging. PL/pgSQL keeps the statement's plan for the session
-- (one per pooled connection). pgbench on TaskCreate's statement with
-- three tags, 32 clients, SERIALIZABLE: 1 926 -> 3 180 transactions/s,
-- every task still linked to its three tags.
--
-- A kept plan is generic, made once for whatever size tags had then: on
-- a small table that is a sequential scan, which under SERIALIZABLE
-- predicate-locks the whole table, so that every tag any user creates
-- conflicts with it (make bench's creates reran six times as often).
-- enable_seqscan = off, for this function's statements only, keeps the
-- lookup on the (user_id, name) key whatever the table's size.
CREATE OR REPLACE FUNCTION tag_ids(p_user_id bigint, p_names text[]) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$
DECLARE
    ids bigint[];
BEGIN
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
    INTO ids;
    RETURN ids;
END
$$;

-- migrate:down

DROP FUNCTION tag_ids(bigint, text[]);
CREATE FUNCTION tag_ids(p_user_id bigint, p_names text[]) RETURNS bigint[]
LANGUAGE sql VOLATILE AS $$
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
