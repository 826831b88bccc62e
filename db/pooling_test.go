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

// CustomPlans sends SET plan_cache_mode, the query and RESET as one
// pipeline ending in a single Sync: one implicit transaction. Through a
// transaction-pooling proxy that is what keeps the SET from staying on a
// server connection that others then get: when the query fails, the
// transaction aborts and takes the SET with it, and when it succeeds the
// RESET ran in the same transaction. Checked on a one-connection pool in
// each exec mode taskd uses (cache_describe is the one for PgBouncer),
// with and without shared reads (each call its own Sync there): a
// query that fails while executing, after the SET ran, must leave the
// connection's plan_cache_mode as it was.
func TestCustomPlansLeaveNoSessionState(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			pool := testdb.New(t, func(c *pgxpool.Config) {
				c.MaxConns = 1
				c.ConnConfig.DefaultQueryExecMode = mode
			})
			for _, p := range []*db.Pool{db.NewPool(pool, 0, db.ShareNever), db.NewPool(pool, 0, db.ShareAlways)} {
				customPlansLeaveNoSessionState(t, pool, p)
			}
		})
	}
}

func customPlansLeaveNoSessionState(t *testing.T, pool *pgxpool.Pool, p *db.Pool) {
	ctx := context.Background()
	planCacheMode := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&s))
		return s
	}
	require.Equal(t, "auto", planCacheMode())

	// Fails at execution: division by zero, after the SET.
	for range 2 { // the second time with its description cached
		rows, err := db.CustomPlans(p).Query(ctx, "SELECT 1 / (g - 3) FROM generate_series(1, 5) g WHERE g > $1", 0)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		require.ErrorContains(t, err, "division by zero")
		require.Equal(t, "auto", planCacheMode(), "a failed query left the SET behind")
	}

	// Succeeds, read in part.
	rows, err := db.CustomPlans(p).Query(ctx, "SELECT current_setting('plan_cache_mode') FROM generate_series(1, 3) WHERE $1::int > 0", 1)
	require.NoError(t, err)
	require.True(t, rows.Next())
	var inside string
	require.NoError(t, rows.Scan(&inside))
	rows.Close()
	require.NoError(t, rows.Err())
	require.Equal(t, "force_custom_plan", inside, "the query runs with custom plans")
	require.Equal(t, "auto", planCacheMode())
}
