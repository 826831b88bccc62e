-- migrate:up

-- The whole v1 schema. Tenancy lives here: every tenant table carries
-- user_id, its primary key is (user_id, id), and every reference between
-- tenant rows is a composite foreign key that includes user_id, so the
-- database itself refuses a row pointing at another user's data. The same
-- shape lets tenant tables be distributed on user_id later.
-- Every constraint is named: api/errors.go maps names to fields.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE task_status AS ENUM ('todo', 'in_progress', 'done', 'cancelled');
CREATE TYPE task_priority AS ENUM ('low', 'medium', 'high', 'critical');

CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_name_check CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$')
);
CREATE UNIQUE INDEX users_name_key ON users (lower(name));

-- Tokens are looked up by the SHA-256 of their secret; the secret itself
-- is never stored.
CREATE TABLE tokens (
    user_id     bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tokens_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT tokens_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT tokens_name_check CHECK (char_length(name) BETWEEN 1 AND 64)
);

-- version counts changes to a row's own fields; it is the ETag.
CREATE TABLE projects (
    user_id     bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL,
    description text,
    color       text,
    archived_at timestamptz,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT projects_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT projects_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT projects_description_check CHECK (char_length(description) <= 10000),
    CONSTRAINT projects_color_check CHECK (color ~ '^#[0-9a-f]{6}$')
);
CREATE UNIQUE INDEX projects_name_key ON projects (user_id, lower(name));

-- A subtask's parent is a task of the same project: the parent key
-- includes project_id, and ON UPDATE CASCADE moves subtasks along when
-- their parent moves to another project.
CREATE TABLE tasks (
    user_id         bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    project_id      bigint NOT NULL,
    parent_task_id  bigint,
    title           text NOT NULL,
    description     text,
    status          task_status NOT NULL DEFAULT 'todo',
    priority        task_priority NOT NULL DEFAULT 'medium',
    due_date        date,
    estimated_hours numeric(7, 2),
    completed_at    timestamptz,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT tasks_project_id_id_key UNIQUE (user_id, project_id, id),
    CONSTRAINT tasks_project_id_fkey FOREIGN KEY (user_id, project_id)
        REFERENCES projects (user_id, id) ON DELETE CASCADE,
    CONSTRAINT tasks_parent_task_id_fkey FOREIGN KEY (user_id, project_id, parent_task_id)
        REFERENCES tasks (user_id, project_id, id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT tasks_parent_task_id_check CHECK (parent_task_id <> id),
    CONSTRAINT tasks_title_check CHECK (char_length(title) BETWEEN 1 AND 300),
    CONSTRAINT tasks_description_check CHECK (char_length(description) <= 50000),
    CONSTRAINT tasks_estimated_hours_check CHECK (estimated_hours BETWEEN 0 AND 10000),
    CONSTRAINT tasks_completed_at_check CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
-- A subtask moves with its parent through the foreign key's ON UPDATE
-- CASCADE, which changes the subtask's project_id behind the API's back:
-- this gives it a new version (ETag) and updated_at, as any move would.
CREATE FUNCTION tasks_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.project_id IS DISTINCT FROM OLD.project_id AND NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_moved BEFORE UPDATE OF project_id ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_moved();

-- Listing is keyset on id within a user; each filter has an index that
-- ends in id so a page stays an index range scan.
CREATE INDEX tasks_project_idx ON tasks (user_id, project_id, id);
CREATE INDEX tasks_parent_idx ON tasks (user_id, parent_task_id, id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_status_idx ON tasks (user_id, status, id);
CREATE INDEX tasks_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_due_date_idx ON tasks (user_id, due_date, id) WHERE due_date IS NOT NULL;
-- q is a case-insensitive substring of title or description: trigram
-- indexes on the lower-cased columns serve LIKE '%…%'.
CREATE INDEX tasks_title_trgm_idx ON tasks USING gin (lower(title) gin_trgm_ops);
CREATE INDEX tasks_description_trgm_idx ON tasks USING gin (lower(description) gin_trgm_ops);

CREATE TABLE tags (
    user_id    bigint NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    name       text NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT tags_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT tags_name_key UNIQUE (user_id, name),
    CONSTRAINT tags_name_check CHECK (char_length(name) BETWEEN 1 AND 64)
);

CREATE TABLE task_tags (
    user_id bigint NOT NULL,
    task_id bigint NOT NULL,
    tag_id  bigint NOT NULL,
    CONSTRAINT task_tags_pkey PRIMARY KEY (user_id, task_id, tag_id),
    CONSTRAINT task_tags_task_id_fkey FOREIGN KEY (user_id, task_id)
        REFERENCES tasks (user_id, id) ON DELETE CASCADE,
    CONSTRAINT task_tags_tag_id_fkey FOREIGN KEY (user_id, tag_id)
        REFERENCES tags (user_id, id) ON DELETE CASCADE
);
CREATE INDEX task_tags_tag_idx ON task_tags (user_id, tag_id, task_id);

CREATE TABLE comments (
    user_id    bigint NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    task_id    bigint NOT NULL,
    content    text NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT comments_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT comments_task_id_fkey FOREIGN KEY (user_id, task_id)
        REFERENCES tasks (user_id, id) ON DELETE CASCADE,
    CONSTRAINT comments_content_check CHECK (char_length(content) BETWEEN 1 AND 20000)
);
CREATE INDEX comments_task_idx ON comments (user_id, task_id, id);

-- task_rows is a task as the API shows it: its tag names in code point
-- order and its counts, computed per row in the one statement that reads
-- a task or a page of tasks.
CREATE VIEW task_rows AS
SELECT t.user_id, t.id, t.project_id, t.parent_task_id, t.title, t.description,
       t.status, t.priority, t.due_date, t.estimated_hours, t.completed_at,
       t.version, t.created_at, t.updated_at,
       ARRAY(SELECT g.name FROM task_tags tt
             JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id
             WHERE tt.user_id = t.user_id AND tt.task_id = t.id
             ORDER BY g.name COLLATE "C")::text[] AS tags,
       (SELECT count(*) FROM tasks s
        WHERE s.user_id = t.user_id AND s.parent_task_id = t.id) AS subtask_count,
       (SELECT count(*) FROM comments c
        WHERE c.user_id = t.user_id AND c.task_id = t.id) AS comment_count
FROM tasks t;

-- Stored responses of POSTs that carried an Idempotency-Key, kept 24
-- hours. A key is scoped by caller and route; sign-up has no caller yet,
-- so its keys have user_id 0 (hence no foreign key to users).
CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL DEFAULT 0,
    body         bytea NOT NULL DEFAULT '',
    location     text,
    etag         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, method, path, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- migrate:down

DROP TABLE idempotency_keys;
DROP VIEW task_rows;
DROP TABLE comments;
DROP TABLE task_tags;
DROP TABLE tags;
DROP TABLE tasks;
DROP FUNCTION tasks_moved();
DROP TABLE projects;
DROP TABLE tokens;
DROP TABLE users;
DROP TYPE task_priority;
DROP TYPE task_status;
