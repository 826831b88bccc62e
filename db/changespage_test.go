package db_test

import (
	"context"
	"testing"

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
// deleted task a NULL.
func TestChangesPageAnswersTheTaskAsTaskGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	setup, err := db.PoolConfig(url, 1)
	require.NoError(t, err)
	seed, err := pgxpool.NewWithConfig(ctx, setup)
	require.NoError(t, err)
	t.Cleanup(seed.Close)
	var user, task, gone int64
	require.NoError(t, seed.QueryRow(ctx, `INSERT INTO users (name) VALUES ('feed') RETURNING id`).Scan(&user))
	require.NoError(t, seed.QueryRow(ctx, `WITH p AS (INSERT INTO projects (user_id, name) VALUES ($1, 'Home') RETURNING id)
		INSERT INTO tasks (user_id, project_id, title, description, status, priority, due_date, estimated_hours, completed_at)
		SELECT $1, p.id, 'Launch', 'the launch', 'done', 'high', '2026-12-24', 2.25, now() FROM p RETURNING id`, user).Scan(&task))
	require.NoError(t, seed.QueryRow(ctx, `INSERT INTO tasks (user_id, project_id, title, status, priority)
		SELECT $1, project_id, 'Gone', 'todo', 'low' FROM tasks WHERE id = $2 RETURNING id`, user, task).Scan(&gone))
	_, err = seed.Exec(ctx, `INSERT INTO task_tags (user_id, task_id, tag_id) SELECT $1, $2, unnest(tag_ids($1, '{b-tag,a-tag}'))`, user, task)
	require.NoError(t, err)
	_, err = seed.Exec(ctx, `DELETE FROM tasks WHERE id = $1`, gone)
	require.NoError(t, err)
	want, err := db.New(seed).TaskGet(ctx, db.TaskGetParams{UserID: user, ID: task})
	require.NoError(t, err)
	require.Equal(t, []string{"a-tag", "b-tag"}, want.Tags)

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		cfg, err := db.PoolConfig(url, 1)
		require.NoError(t, err)
		cfg.ConnConfig.DefaultQueryExecMode = mode
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		rows, err := db.New(pool).ChangesPage(ctx, db.ChangesPageParams{UserID: user, MaxRows: 100})
		pool.Close()
		require.NoError(t, err, mode.String())
		seen := map[int64]*db.TaskRow{}
		for _, r := range rows {
			if r.EntityType != nil && *r.EntityType == db.ChangeEntityTask {
				seen[*r.EntityID] = r.Task
			}
		}
		require.Contains(t, seen, task, mode.String())
		require.NotNil(t, seen[task], mode.String())
		require.Equal(t, want, *seen[task], "%s: the feed's task is TaskGet's", mode)
		require.Contains(t, seen, gone, mode.String())
		require.Nil(t, seen[gone], "%s: a deleted task is NULL", mode)
	}

	// A later migration adds a column to the view (at its end, as
	// CREATE OR REPLACE VIEW requires): this build's feed still answers,
	// on a connection that registered the type before and on one opened
	// after.
	before, err := pgxpool.NewWithConfig(ctx, setup)
	require.NoError(t, err)
	t.Cleanup(before.Close)
	page := func(p *pgxpool.Pool) *db.TaskRow {
		rows, err := db.New(p).ChangesPage(ctx, db.ChangesPageParams{UserID: user, MaxRows: 100})
		require.NoError(t, err)
		for _, r := range rows {
			if r.EntityType != nil && *r.EntityType == db.ChangeEntityTask && *r.EntityID == task {
				return r.Task
			}
		}
		return nil
	}
	require.Equal(t, &want, page(before))
	var def string
	require.NoError(t, seed.QueryRow(ctx, `SELECT rtrim(pg_get_viewdef('task_rows'), '; ')`).Scan(&def))
	_, err = seed.Exec(ctx, `CREATE OR REPLACE VIEW task_rows AS SELECT v.*, 42 AS a_later_column FROM (`+def+`) v`)
	require.NoError(t, err)
	require.Equal(t, &want, page(before), "a connection that knew the view before")
	after, err := pgxpool.NewWithConfig(ctx, setup)
	require.NoError(t, err)
	t.Cleanup(after.Close)
	require.Equal(t, &want, page(after), "a connection opened after the migration")
}
