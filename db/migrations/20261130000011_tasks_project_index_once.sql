-- migrate:up

-- tasks had the same B-tree twice: tasks_project_id_id_key, the UNIQUE
-- (user_id, project_id, id) that the parent foreign key references, and
-- tasks_project_idx on the same columns, which the first migration made
-- for listing a project's tasks. The unique one serves that listing just
-- as well (same keys, same order), so every task insert and every move
-- between projects wrote one index entry for nothing.
DROP INDEX tasks_project_idx;

-- migrate:down

CREATE INDEX tasks_project_idx ON tasks (user_id, project_id, id);
