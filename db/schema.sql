\restrict dbmate

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;


--
-- Name: EXTENSION pg_trgm; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';


--
-- Name: change_entity; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.change_entity AS ENUM (
    'project',
    'task',
    'tag',
    'comment'
);


--
-- Name: task_priority; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.task_priority AS ENUM (
    'low',
    'medium',
    'high',
    'critical'
);


--
-- Name: task_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.task_status AS ENUM (
    'todo',
    'in_progress',
    'done',
    'cancelled'
);


--
-- Name: api_time(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_time(t timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT rtrim(rtrim(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z'
$$;


--
-- Name: changes_deleted(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.changes_deleted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    hooked boolean;
BEGIN
    WITH logged AS (
        INSERT INTO changes (user_id, entity_type, entity_id)
        SELECT user_id, TG_ARGV[0]::change_entity, id FROM old_rows
    )
    SELECT EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND w.user_id IN (SELECT user_id FROM old_rows))
    INTO hooked;
    IF hooked THEN
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


--
-- Name: changes_inserted(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.changes_inserted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: changes_updated(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.changes_updated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: tag_ids(bigint, text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tag_ids(p_user_id bigint, p_names text[]) RETURNS bigint[]
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    AS $$
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


--
-- Name: task_tags_cascade(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.task_tags_cascade() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_ARGV[0] = 'task' THEN
        DELETE FROM task_tags tt USING old_rows o WHERE tt.user_id = o.user_id AND tt.task_id = o.id;
    ELSE
        DELETE FROM task_tags tt USING old_rows o WHERE tt.user_id = o.user_id AND tt.tag_id = o.id;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: tasks_moved(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tasks_moved() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.project_id IS DISTINCT FROM OLD.project_id AND NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: webhook_data(public.change_entity, bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_data(kind public.change_entity, p_user_id bigint, p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: webhook_enqueue(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_enqueue(events jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
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


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: change_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.change_log (
    singleton boolean DEFAULT true NOT NULL,
    pruned_xid bigint DEFAULT 0 NOT NULL,
    CONSTRAINT change_log_singleton_check CHECK (singleton)
);


--
-- Name: changes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.changes (
    user_id bigint NOT NULL,
    xid bigint DEFAULT ((pg_current_xact_id())::text)::bigint NOT NULL,
    id bigint NOT NULL,
    entity_type public.change_entity NOT NULL,
    entity_id bigint NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: changes_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: comments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.comments (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    task_id bigint NOT NULL,
    content text NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT comments_content_check CHECK (((char_length(content) >= 1) AND (char_length(content) <= 20000)))
);


--
-- Name: comments_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.comments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.comments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    user_id bigint NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    request_hash bytea NOT NULL,
    status integer DEFAULT 0 NOT NULL,
    body bytea DEFAULT '\x'::bytea NOT NULL,
    location text,
    etag text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    key_hash bytea NOT NULL
);


--
-- Name: projects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.projects (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    name text NOT NULL,
    description text,
    color text,
    archived_at timestamp with time zone,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT projects_color_check CHECK ((color ~ '^#[0-9a-f]{6}$'::text)),
    CONSTRAINT projects_description_check CHECK ((char_length(description) <= 10000)),
    CONSTRAINT projects_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200)))
);


--
-- Name: projects_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.projects ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.projects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
);


--
-- Name: tags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tags (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    name text NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tags_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 64)))
);


--
-- Name: tags_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.tags ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.tags_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: task_tags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_tags (
    user_id bigint NOT NULL,
    task_id bigint NOT NULL,
    tag_id bigint NOT NULL
);


--
-- Name: tasks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tasks (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    project_id bigint NOT NULL,
    parent_task_id bigint,
    title text NOT NULL,
    description text,
    status public.task_status DEFAULT 'todo'::public.task_status NOT NULL,
    priority public.task_priority DEFAULT 'medium'::public.task_priority NOT NULL,
    due_date date,
    estimated_hours numeric(7,2),
    completed_at timestamp with time zone,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tasks_completed_at_check CHECK (((status = 'done'::public.task_status) = (completed_at IS NOT NULL))),
    CONSTRAINT tasks_description_check CHECK ((char_length(description) <= 50000)),
    CONSTRAINT tasks_estimated_hours_check CHECK (((estimated_hours >= (0)::numeric) AND (estimated_hours <= (10000)::numeric))),
    CONSTRAINT tasks_parent_task_id_check CHECK ((parent_task_id <> id)),
    CONSTRAINT tasks_title_check CHECK (((char_length(title) >= 1) AND (char_length(title) <= 300)))
);


--
-- Name: task_rows; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.task_rows AS
 SELECT t.user_id,
    t.id,
    t.project_id,
    t.parent_task_id,
    t.title,
    t.description,
    t.status,
    t.priority,
    t.due_date,
    t.estimated_hours,
    t.completed_at,
    t.version,
    t.created_at,
    t.updated_at,
    ARRAY( SELECT g.name
           FROM (public.task_tags tt
             JOIN public.tags g ON (((g.user_id = tt.user_id) AND (g.id = tt.tag_id))))
          WHERE ((tt.user_id = t.user_id) AND (tt.task_id = t.id))
          ORDER BY (g.name COLLATE "C")) AS tags,
    ( SELECT count(*) AS count
           FROM public.tasks s
          WHERE ((s.user_id = t.user_id) AND (s.parent_task_id = t.id))) AS subtask_count,
    ( SELECT count(*) AS count
           FROM public.comments c
          WHERE ((c.user_id = t.user_id) AND (c.task_id = t.id))) AS comment_count
   FROM public.tasks t;


--
-- Name: tasks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.tasks ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.tasks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tokens (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    name text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tokens_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 64)))
);


--
-- Name: tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.tokens ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT users_name_check CHECK ((name ~ '^[A-Za-z0-9._-]{1,64}$'::text))
);


--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    webhook_id bigint NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    attempt integer NOT NULL,
    status_code integer,
    error text,
    duration_ms integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    webhook_id bigint NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    first_failed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhooks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhooks (
    user_id bigint NOT NULL,
    id bigint NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    description text,
    secret_sealed bytea NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhooks_description_check CHECK ((char_length(description) <= 1000)),
    CONSTRAINT webhooks_events_check CHECK (((cardinality(events) >= 1) AND (cardinality(events) <= 20))),
    CONSTRAINT webhooks_url_check CHECK (((char_length(url) >= 1) AND (char_length(url) <= 2000)))
);


--
-- Name: webhooks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhooks ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhooks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: change_log change_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.change_log
    ADD CONSTRAINT change_log_pkey PRIMARY KEY (singleton);


--
-- Name: changes changes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (user_id, xid, id);


--
-- Name: comments comments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.comments
    ADD CONSTRAINT comments_pkey PRIMARY KEY (user_id, id);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, method, path, key_hash);


--
-- Name: projects projects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (user_id, id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: tags tags_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT tags_name_key UNIQUE (user_id, name);


--
-- Name: tags tags_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT tags_pkey PRIMARY KEY (user_id, id);


--
-- Name: task_tags task_tags_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_tags
    ADD CONSTRAINT task_tags_pkey PRIMARY KEY (user_id, task_id, tag_id);


--
-- Name: tasks tasks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (user_id, id);


--
-- Name: tasks tasks_project_id_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_project_id_id_key UNIQUE (user_id, project_id, id);


--
-- Name: tokens tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (user_id, id);


--
-- Name: tokens tokens_secret_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_secret_hash_key UNIQUE (secret_hash);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (user_id, id);


--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (user_id, id);


--
-- Name: webhooks webhooks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_pkey PRIMARY KEY (user_id, id);


--
-- Name: changes_position_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX changes_position_idx ON public.changes USING btree (xid, id);


--
-- Name: comments_task_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX comments_task_idx ON public.comments USING btree (user_id, task_id, id);


--
-- Name: idempotency_keys_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idempotency_keys_created_at_idx ON public.idempotency_keys USING btree (created_at);


--
-- Name: projects_name_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX projects_name_key ON public.projects USING btree (user_id, lower(name));


--
-- Name: task_tags_tag_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX task_tags_tag_idx ON public.task_tags USING btree (user_id, tag_id, task_id);


--
-- Name: tasks_description_trgm_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_description_trgm_idx ON public.tasks USING gin (lower(description) public.gin_trgm_ops);


--
-- Name: tasks_due_date_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_due_date_idx ON public.tasks USING btree (user_id, due_date, id) WHERE (due_date IS NOT NULL);


--
-- Name: tasks_parent_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_parent_idx ON public.tasks USING btree (user_id, parent_task_id, id) WHERE (parent_task_id IS NOT NULL);


--
-- Name: tasks_priority_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_priority_idx ON public.tasks USING btree (user_id, priority, id);


--
-- Name: tasks_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_status_idx ON public.tasks USING btree (user_id, status, id);


--
-- Name: tasks_title_trgm_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_title_trgm_idx ON public.tasks USING gin (lower(title) public.gin_trgm_ops);


--
-- Name: users_name_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_name_key ON public.users USING btree (lower(name));


--
-- Name: webhook_attempts_webhook_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_attempts_webhook_idx ON public.webhook_attempts USING btree (user_id, webhook_id, id DESC);


--
-- Name: webhook_deliveries_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_due_idx ON public.webhook_deliveries USING btree (next_attempt_at);


--
-- Name: webhooks_enabled_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhooks_enabled_idx ON public.webhooks USING btree (user_id) WHERE enabled;


--
-- Name: comments comments_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER comments_deleted AFTER DELETE ON public.comments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_deleted('comment');


--
-- Name: comments comments_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER comments_inserted AFTER INSERT ON public.comments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_inserted('comment');


--
-- Name: comments comments_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER comments_updated AFTER UPDATE ON public.comments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_updated('comment');


--
-- Name: projects projects_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER projects_deleted AFTER DELETE ON public.projects REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_deleted('project');


--
-- Name: projects projects_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER projects_inserted AFTER INSERT ON public.projects REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_inserted('project');


--
-- Name: projects projects_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER projects_updated AFTER UPDATE ON public.projects REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_updated('project');


--
-- Name: tags tags_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tags_deleted AFTER DELETE ON public.tags REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_deleted('tag');


--
-- Name: tags tags_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tags_inserted AFTER INSERT ON public.tags REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_inserted('tag');


--
-- Name: tags tags_unlinked; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tags_unlinked AFTER DELETE ON public.tags REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.task_tags_cascade('tag');


--
-- Name: tags tags_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tags_updated AFTER UPDATE ON public.tags REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_updated('tag');


--
-- Name: tasks tasks_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_deleted AFTER DELETE ON public.tasks REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_deleted('task');


--
-- Name: tasks tasks_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_inserted AFTER INSERT ON public.tasks REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_inserted('task');


--
-- Name: tasks tasks_moved; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_moved BEFORE UPDATE OF project_id ON public.tasks FOR EACH ROW EXECUTE FUNCTION public.tasks_moved();


--
-- Name: tasks tasks_untagged; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_untagged AFTER DELETE ON public.tasks REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.task_tags_cascade('task');


--
-- Name: tasks tasks_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_updated AFTER UPDATE ON public.tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.changes_updated('task');


--
-- Name: comments comments_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.comments
    ADD CONSTRAINT comments_task_id_fkey FOREIGN KEY (user_id, task_id) REFERENCES public.tasks(user_id, id) ON DELETE CASCADE;


--
-- Name: projects projects_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: tags tags_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT tags_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: tasks tasks_parent_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_parent_task_id_fkey FOREIGN KEY (user_id, project_id, parent_task_id) REFERENCES public.tasks(user_id, project_id, id) ON UPDATE CASCADE ON DELETE CASCADE;


--
-- Name: tasks tasks_project_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (user_id, project_id) REFERENCES public.projects(user_id, id) ON DELETE CASCADE;


--
-- Name: tokens tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: webhook_attempts webhook_attempts_webhook_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_webhook_id_fkey FOREIGN KEY (user_id, webhook_id) REFERENCES public.webhooks(user_id, id) ON DELETE CASCADE;


--
-- Name: webhook_deliveries webhook_deliveries_webhook_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (user_id, webhook_id) REFERENCES public.webhooks(user_id, id) ON DELETE CASCADE;


--
-- Name: webhooks webhooks_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict dbmate


--
-- Dbmate schema migrations
--

INSERT INTO public.schema_migrations (version) VALUES
    ('20261126000000'),
    ('20261130000000'),
    ('20261130000001'),
    ('20261130000002'),
    ('20261130000003'),
    ('20261130000004'),
    ('20261130000005'),
    ('20261130000006'),
    ('20261130000007'),
    ('20261130000008'),
    ('20261130000009'),
    ('20261130000010'),
    ('20261130000011'),
    ('20261130000012');
