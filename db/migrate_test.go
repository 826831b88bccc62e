package db_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

// Three processes starting at once on a database that does not exist yet
// create it once and migrate it once: one applies every migration, the
// others wait for its lock and find nothing to do; none fails.
func TestMigrateRacedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(testdb.URL(t)) // any database on the test server
	require.NoError(t, err)
	admin := *u
	admin.Path = "/postgres"
	name := fmt.Sprintf("taskd_migrate_race_%d", os.Getpid())
	u.Path = "/" + name
	dropDB := func() {
		conn, err := pgx.Connect(ctx, admin.String())
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err)
	}
	dropDB()
	t.Cleanup(dropDB)

	files, err := os.ReadDir("migrations")
	require.NoError(t, err)

	const n = 3
	results := make([]db.Migration, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			cfg, err := db.PoolConfig(u.String(), 0)
			if err != nil {
				errs[i] = err
				return
			}
			start.Wait()
			results[i], errs[i] = db.Migrate(ctx, cfg, io.Discard)
		})
	}
	start.Done()
	done.Wait()

	applied := 0
	for i := range n {
		require.NoError(t, errs[i], "process %d", i)
		if len(results[i].Applied) > 0 {
			applied++
			require.Len(t, results[i].Applied, len(files), "the one that migrated applied every migration")
		}
	}
	require.Equal(t, 1, applied, "exactly one process migrated: %+v", results)

	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var versions int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&versions))
	require.Equal(t, len(files), versions)
}
