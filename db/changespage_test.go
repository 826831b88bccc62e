package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

// ChangesPage answers a task as one task_rows value, which pgx scans into
// db.TaskRow only because db.PoolConfig registers that type: in every
// exec mode taskd can be told to use (the binary and the text formats
// both), the feed's task must be TaskGet's, field for field, and a
// deleted task a NULL. And when a later migration adds columns to the
// view, this build's feed still answers, whatever their types.
func TestChangesPageAnswersTheTaskAsTaskGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	newPool := func(mode pgx.QueryExecMode) *pgxpool.Pool {
		cfg, err := db.PoolConfig(url, 1)
		require.NoError(t, err)
		cfg.ConnConfig.DefaultQueryExecMode = mode
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	seed := newPool(pgx.QueryExecModeCacheStatement)
	var user, task, gone int64
	require.NoError(t, seed.QueryRow(ctx, `INSERT INTO users (name) VALUES ('feed') RETURNING id`).Scan(&user))
	require.NoError(t, seed.QueryRow(ctx, `WITH p AS (INSERT INTO projects (user_id, name) VALUES ($1, 'Home') RETURNING id)
		INSERT INTO tasks (user_id, project_id, title, description, status, priority, due_date, estimated_hours, completed_at)
		SELECT $1, p.id, 'Launch', 'the launch', 'done', 'high', '2026-12-24', 2.25, now() FROM p RETURNING id`, user).Scan(&task))
	require.NoError(t, seed.QueryRow(ctx, `INSERT INTO tasks (user_id, project_id, title, status, priority)
		SELECT $1, project_id, 'Gone', 'todo', 'low' FROM tasks WHERE id = $2 RETURNING id`, user, task).Scan(&gone))
	_, err := seed.Exec(ctx, `INSERT INTO task_tags (user_id, task_id, tag_id) SELECT $1, $2, unnest(tag_ids($1, '{b-tag,a-tag}'))`, user, task)
	require.NoError(t, err)
	_, err = seed.Exec(ctx, `DELETE FROM tasks WHERE id = $1`, gone)
	require.NoError(t, err)
	want, err := db.New(seed).TaskGet(ctx, db.TaskGetParams{UserID: user, ID: task})
	require.NoError(t, err)
	require.Equal(t, []string{"a-tag", "b-tag"}, want.Tags)

	// feed is the page's tasks by id, once no transaction of the server
	// older than the writes above (other tests run beside this one) holds
	// the page back.
	feed := func(p *pgxpool.Pool, what string) map[int64]*db.TaskRow {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			rows, err := db.New(p).ChangesPage(ctx, db.ChangesPageParams{UserID: user, MaxRows: 100})
			require.NoError(t, err, what)
			require.NotEmpty(t, rows, what)
			if rows[0].HeldBack {
				require.True(t, time.Now().Before(deadline), "%s: held back for 30 s", what)
				continue
			}
			tasks := map[int64]*db.TaskRow{}
			for _, r := range rows {
				if r.EntityType != nil && *r.EntityType == db.ChangeEntityTask {
					tasks[*r.EntityID] = r.Task
				}
			}
			return tasks
		}
	}
	check := func(p *pgxpool.Pool, what string) {
		tasks := feed(p, what)
		require.Contains(t, tasks, task, what)
		require.NotNil(t, tasks[task], what)
		require.Equal(t, want, *tasks[task], "%s: the feed's task is TaskGet's", what)
		require.Contains(t, tasks, gone, what)
		require.Nil(t, tasks[gone], "%s: a deleted task is NULL", what)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		check(newPool(mode), mode.String())
	}

	// A later migration adds a column to the view (at its end, as CREATE
	// OR REPLACE VIEW requires); then another, of a type pgx cannot load
	// (pg_lsn). This build's feed still answers, on a connection that
	// registered the type before and on ones opened after each.
	appendColumn := func(column string) {
		var def string
		require.NoError(t, seed.QueryRow(ctx, `SELECT rtrim(pg_get_viewdef('task_rows'), '; ')`).Scan(&def))
		_, err := seed.Exec(ctx, `CREATE OR REPLACE VIEW task_rows AS SELECT v.*, `+column+` FROM (`+def+`) v`)
		require.NoError(t, err)
	}
	before := newPool(pgx.QueryExecModeCacheStatement)
	check(before, "before the migrations")
	appendColumn("42 AS a_later_column")
	check(before, "a connection that knew the view before")
	check(newPool(pgx.QueryExecModeCacheStatement), "a connection opened after a column was added")
	appendColumn("'0/0'::pg_lsn AS a_column_pgx_cannot_load")
	check(before, "a connection that knew the view before both")
	check(newPool(pgx.QueryExecModeCacheStatement), "a connection opened after a column pgx cannot load")
	check(newPool(pgx.QueryExecModeSimpleProtocol), "the same in the text format")
}
