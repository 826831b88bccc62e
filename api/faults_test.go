package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/db"
	"taskd/internal/pglocal"
	"taskd/internal/testdb"
)

// When every pooled connection is busy, a request answers 503 with
// Retry-After once the acquire timeout is over, long before its own
// deadline: a saturated server sheds load instead of queueing it. The
// pool being busy does not make /readyz fail.
func TestPoolExhaustionAnswers503(t *testing.T) {
	t.Parallel()
	// A few connections: the server's own pollers (change streams,
	// webhook claims) use the pool too, and set-up requests must not wait
	// behind them; the test then takes every one.
	const conns = 4
	pool := testdb.New(t, func(c *pgxpool.Config) { c.MaxConns = conns })
	// Open the connections first: opening one (TCP, SCRAM, the schema's
	// types) can take longer than the short acquire timeout on a loaded
	// machine, and the set-up requests must not be shed.
	var warm []*pgxpool.Conn
	for range conns {
		conn, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		warm = append(warm, conn)
	}
	for _, conn := range warm {
		conn.Release()
	}
	e := newEnv(t, pool, func(o *api.Options) {
		o.RequestTimeout = 20 * time.Second
		o.AcquireTimeout = 500 * time.Millisecond
	})
	e.newProject("Home")

	var held []*pgxpool.Conn // every connection
	for range conns {
		conn, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		held = append(held, conn)
	}
	for _, req := range []struct{ method, path string }{{"GET", "/v1/projects"}, {"POST", "/v1/projects"}} {
		var body any
		if req.method == "POST" {
			body = map[string]any{"name": "Blocked"}
		}
		start := time.Now()
		r := e.do(req.method, req.path, body)
		elapsed := time.Since(start)
		r.requireProblem(http.StatusServiceUnavailable)
		require.Equal(t, "1", r.Header.Get("Retry-After"))
		require.GreaterOrEqual(t, elapsed, 500*time.Millisecond)
		require.Less(t, elapsed, 2*time.Second, "shed after the acquire timeout, not the request deadline")
		t.Logf("%s %s: 503 after %v", req.method, req.path, elapsed.Round(time.Millisecond))
	}
	e.do("GET", "/readyz", nil).requireStatus(http.StatusOK)
	for _, conn := range held {
		conn.Release()
	}
	require.Len(t, e.do("GET", "/v1/projects", nil).requireStatus(http.StatusOK).items(), 1)
	require.Zero(t, e.count(`SELECT count(*) FROM projects WHERE name = 'Blocked'`))
}

// When PostgreSQL stops, /readyz and the API say 503 at once; when it is
// back, the same server recovers without a restart.
func TestDatabaseLossAndRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := os.MkdirTemp("", "taskd-loss-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	dir := filepath.Join(base, "data")
	cluster, err := pglocal.Start(ctx, dir, pglocal.Options{Throwaway: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Stop() })
	u, err := url.Parse(cluster.URL("taskd"))
	require.NoError(t, err)
	require.NoError(t, db.Migrator(u, io.Discard, "").CreateAndMigrate())
	cfg, err := db.PoolConfig(u.String(), 4)
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e := newEnv(t, pool, func(o *api.Options) { o.RequestTimeout = 2 * time.Second })
	e.newProject("Before")

	require.NoError(t, cluster.Stop())
	ready := e.as("").do("GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, ready.Code, ready.Text())
	for _, req := range []struct{ method, path string }{{"GET", "/v1/projects"}, {"POST", "/v1/projects"}} {
		var body any
		if req.method == "POST" {
			body = map[string]any{"name": "During"}
		}
		r := e.do(req.method, req.path, body)
		r.requireProblem(http.StatusServiceUnavailable)
		require.NotEmpty(t, r.Header.Get("Retry-After"))
		require.NotContains(t, r.Text(), "127.0.0.1", "no connection details leak")
	}
	e.as("").do("GET", "/healthz", nil).requireStatus(http.StatusOK)

	cluster, err = pglocal.Start(ctx, dir, pglocal.Options{Throwaway: true, Port: cluster.Port})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.as("").do("GET", "/readyz", nil).Code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
	e.do("POST", "/v1/projects", map[string]any{"name": "After"}).requireStatus(http.StatusCreated)
	require.Equal(t, []string{"Before", "After"}, names(e.do("GET", "/v1/projects", nil).items()))
}

// The request's deadline reaches the database in the middle of a write:
// a PATCH that waits on a row lock held elsewhere runs out of time inside
// its transaction, answers 503, its statement is cancelled in PostgreSQL
// (the lock wait ends), and nothing of the write remains.
func TestRequestDeadlineReachesTheDatabase(t *testing.T) {
	e := setup(t)
	p := e.newProject("Locked")
	slow := newEnv(t, e.pool, func(o *api.Options) { o.RequestTimeout = 500 * time.Millisecond; o.OpenSignup = false })
	slow.token = e.token
	slow.do("GET", "/v1/me", nil).requireStatus(http.StatusOK) // the token is known: the deadline cannot hit its lookup first

	ctx := context.Background()
	holder, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = holder.Exec(ctx, `SELECT 1 FROM projects WHERE id = $1 FOR UPDATE`, p)
	require.NoError(t, err)

	start := time.Now()
	slow.do("PATCH", fmt.Sprint("/v1/projects/", p), map[string]any{"name": "Too late"}).requireProblem(http.StatusServiceUnavailable)
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, 500*time.Millisecond, "it waited on the lock until its deadline")
	require.Less(t, elapsed, 3*time.Second)
	require.Eventually(t, func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 0
	}, 2*time.Second, 20*time.Millisecond, "the cancelled statement no longer waits in PostgreSQL")
	require.NoError(t, holder.Rollback(ctx))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE name = 'Locked' AND version = 1`), "nothing of the write remains")

	// A request with no time at all is refused the same way.
	instant := newEnv(t, e.pool, func(o *api.Options) { o.RequestTimeout = time.Nanosecond; o.OpenSignup = false })
	instant.token = e.token
	instant.do("POST", "/v1/projects", map[string]any{"name": "Never"}).requireProblem(http.StatusServiceUnavailable)
	require.Zero(t, e.count(`SELECT count(*) FROM projects WHERE name = 'Never'`))
}
