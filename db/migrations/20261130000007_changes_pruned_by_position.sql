-- migrate:up

-- changed_at loses its index: only the pruner read it, and every write
-- paid an entry. The pruner now cuts a prefix of the log by position
-- (ChangesPrune), on the position index, reading only what it deletes.
-- A BRIN index was tried first and is not enough: the pages pruning
-- frees are reused by new rows and a block range's summary only widens,
-- so every range comes to span the oldest and the newest rows and the
-- pruner reads most of the table (136 000 rows read to delete 10 000
-- after one prune and reuse).
DROP INDEX changes_changed_at_idx;

-- migrate:down

CREATE INDEX changes_changed_at_idx ON changes (changed_at);
