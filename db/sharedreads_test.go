package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

// sharedPool is a pool whose statements outside transactions all share
// (db.ShareAlways): the tests of sharing must not go alone.
func sharedPool(t *testing.T, conns int32) (*pgxpool.Pool, *db.Pool) {
	pool := testdb.New(t, func(c *pgxpool.Config) { c.MaxConns = conns })
	return pool, db.NewPool(pool, 0, db.ShareAlways)
}

// A burst far larger than the pool shares its connections: every caller
// gets its own answer, on at most the lanes' connections, in far fewer
// pipelines than statements.
func TestSharedReadsShareConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, p := sharedPool(t, 4)
	const calls = 300
	var wg sync.WaitGroup
	pids := make([]uint32, calls)
	errs := make([]error, calls)
	got := make([]int, calls)
	start := db.Pipelines(p)
	for i := range calls {
		wg.Go(func() {
			errs[i] = p.QueryRow(ctx, "SELECT pg_backend_pid(), $1::int", i).Scan(&pids[i], &got[i])
		})
	}
	wg.Wait()
	distinct := map[uint32]bool{}
	for i := range calls {
		require.NoError(t, errs[i])
		require.Equal(t, i, got[i], "call %d got another call's row", i)
		distinct[pids[i]] = true
	}
	require.LessOrEqual(t, len(distinct), 3, "a quarter of the pool stays for transactions")
	sent := db.Pipelines(p) - start
	require.Less(t, sent, int64(calls/2), "statements travelled together")
	t.Logf("%d statements in %d pipelines on %d connections", calls, sent, len(distinct))
}

// busyLane keeps the only lane of a one-connection pool busy for d, so
// that the calls made meanwhile leave together in its next pipeline.
func busyLane(t *testing.T, p *db.Pool, d time.Duration) (wait func()) {
	done := make(chan error, 1)
	sent := db.Pipelines(p)
	go func() {
		done <- p.QueryRow(context.Background(), "SELECT 1 FROM pg_sleep($1::float8)", d.Seconds()).Scan(new(int))
	}()
	require.Eventually(t, func() bool { return db.Pipelines(p) > sent }, 5*time.Second, time.Millisecond)
	return func() { require.NoError(t, <-done) }
}

// queued waits until n calls wait behind p's busy lane: a loaded machine
// may start a goroutine late, and a test about the order of a pipeline
// must not depend on a sleep.
func queued(t *testing.T, p *db.Pool, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return db.Queued(p) >= n }, 5*time.Second, time.Millisecond, "%d calls queued", n)
}

// A statement that fails inside a shared pipeline fails its own call
// only: the others before and after it in the same pipeline succeed.
func TestSharedReadFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, p := sharedPool(t, 1)
	for round := range 20 {
		wait := busyLane(t, p, 200*time.Millisecond)
		before := db.Pipelines(p)
		const calls = 20
		var wg sync.WaitGroup
		results := make([]int, calls)
		errs := make([]error, calls)
		for i := range calls {
			wg.Go(func() {
				divisor := i % 3 // every third divides by zero
				errs[i] = p.QueryRow(ctx, "SELECT 60 / $1::int", divisor).Scan(&results[i])
			})
		}
		wg.Wait()
		wait()
		for i := range calls {
			if i%3 == 0 {
				var pgErr *pgconn.PgError
				require.ErrorAs(t, errs[i], &pgErr, "round %d call %d", round, i)
				require.Equal(t, "22012", pgErr.Code)
				continue
			}
			require.NoError(t, errs[i], "round %d call %d", round, i)
			require.Equal(t, 60/(i%3), results[i])
		}
		require.Equal(t, before+1, db.Pipelines(p), "round %d: the %d calls shared one pipeline", round, calls)
	}
}

// Every read sees every write acknowledged before it began, however the
// read travelled.
func TestSharedReadSeesAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := sharedPool(t, 4)
	_, err := pool.Exec(ctx, "CREATE TABLE seen (n int)")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				n := w*1000 + i
				if _, err := pool.Exec(ctx, "INSERT INTO seen VALUES ($1)", n); err != nil {
					t.Error(err)
					return
				}
				var found bool
				if err := p.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM seen WHERE n = $1)", n).Scan(&found); err != nil {
					t.Error(err)
					return
				}
				if !found {
					t.Errorf("the read after insert %d did not see it", n)
				}
			}
		})
	}
	wg.Wait()
}

// A caller whose deadline passes stops waiting at once, and its
// statement is cancelled in PostgreSQL; a caller that gives up before
// its pipeline leaves does not take the others of that pipeline with it.
func TestSharedReadDeadlineReachesTheDatabase(t *testing.T) {
	t.Parallel()
	pool, p := sharedPool(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Query(ctx, "SELECT pg_sleep(30) /* doomed */")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%doomed%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n))
		return n == 0
	}, 5*time.Second, 20*time.Millisecond, "the statement no longer runs in PostgreSQL")

	// Two callers queued behind a busy lane leave in one pipeline; the
	// first gives up before it leaves, the second still gets its row.
	_, one := sharedPool(t, 1)
	wait := busyLane(t, one, 500*time.Millisecond)
	quitter, quit := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var quitErr, stayErr error
	var stayed int
	wg.Go(func() { quitErr = one.QueryRow(quitter, "SELECT 1").Scan(new(int)) })
	wg.Go(func() { stayErr = one.QueryRow(context.Background(), "SELECT 2").Scan(&stayed) })
	queued(t, one, 2)
	quit()
	wg.Wait()
	wait()
	require.ErrorIs(t, quitErr, context.Canceled)
	require.NoError(t, stayErr)
	require.Equal(t, 2, stayed)
}

// A statement whose result changes under a running process (a migration
// replaced a view) fails at most once, as with pgx's own statement
// cache, and is prepared anew on every connection after that.
func TestSharedReadRecoversFromSchemaChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := sharedPool(t, 4)
	_, err := pool.Exec(ctx, "CREATE VIEW shape AS SELECT 1 AS a")
	require.NoError(t, err)
	readAll := func() (cols int, err error) {
		rows, err := p.Query(ctx, "SELECT * FROM shape")
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			cols = len(rows.FieldDescriptions())
		}
		return cols, rows.Err()
	}
	var wg sync.WaitGroup
	for range 20 { // prepared on several connections
		wg.Go(func() { _, err := readAll(); require.NoError(t, err) })
	}
	wg.Wait()
	_, err = pool.Exec(ctx, "CREATE OR REPLACE VIEW shape AS SELECT 1 AS a, 2 AS b")
	require.NoError(t, err)
	failures := 0
	for range 20 {
		cols, err := readAll()
		if err != nil {
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Equal(t, "0A000", pgErr.Code)
			failures++
			continue
		}
		require.Equal(t, 2, cols)
	}
	require.LessOrEqual(t, failures, 1)

	// Again, with every connection new: the statement is prepared anew
	// on them from a description that no longer holds.
	_, err = pool.Exec(ctx, "CREATE OR REPLACE VIEW shape AS SELECT 1 AS a, 2 AS b, 3 AS c")
	require.NoError(t, err)
	pool.Reset()
	failures = 0
	for range 20 {
		cols, err := readAll()
		if err != nil {
			failures++
			continue
		}
		require.Equal(t, 3, cols)
	}
	require.LessOrEqual(t, failures, 1)
}

// A call whose rows fail part-way (CustomPlans: SET, the query, RESET
// under one Sync) fails alone too: the call after it in the pipeline
// gets its row.
func TestSharedReadFailingMidRowsFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, p := sharedPool(t, 1)
	for round := range 5 {
		wait := busyLane(t, p, 500*time.Millisecond)
		before := db.Pipelines(p)
		var wg sync.WaitGroup
		var listErr, nextErr error
		var next int
		wg.Go(func() {
			rows, err := db.CustomPlans(p).Query(ctx, "SELECT 1 / (g - 3) FROM generate_series(1, 5) g WHERE g > $1", 0)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			listErr = err
		})
		queued(t, p, 1) // the list first in the pipeline
		wg.Go(func() { nextErr = p.QueryRow(ctx, "SELECT 2").Scan(&next) })
		queued(t, p, 2)
		wg.Wait()
		wait()
		require.ErrorContains(t, listErr, "division by zero", "round %d", round)
		require.NoError(t, nextErr, "round %d", round)
		require.Equal(t, 2, next)
		require.Equal(t, before+1, db.Pipelines(p), "round %d: one pipeline", round)
	}
}

// When the callers of a pipeline that are still waiting all give up, its
// statement is cancelled in PostgreSQL even though others in it were
// answered (before or after the giving up), and the connection serves
// the next read at once.
func TestSharedReadCancelledWhenTheWaitingGiveUp(t *testing.T) {
	t.Parallel()
	for _, firstReadsLate := range []bool{false, true} {
		pool, p := sharedPool(t, 1)
		watch, err := pgxpool.NewWithConfig(context.Background(), pool.Config())
		require.NoError(t, err)
		t.Cleanup(watch.Close)
		wait := busyLane(t, p, 500*time.Millisecond)
		gaveUp := make(chan struct{})
		var wg sync.WaitGroup
		var first int
		var firstErr, slowErr error
		wg.Go(func() {
			rows, err := p.Query(context.Background(), "SELECT 1")
			if err != nil {
				firstErr = err
				return
			}
			if firstReadsLate { // still reading when the other gives up
				<-gaveUp
			}
			for rows.Next() {
				firstErr = rows.Scan(&first)
			}
			rows.Close()
		})
		queued(t, p, 1)
		wg.Go(func() {
			defer close(gaveUp)
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			slowErr = p.QueryRow(ctx, "SELECT 1 FROM pg_sleep(30) /* abandoned */").Scan(new(int))
		})
		wg.Wait()
		wait()
		require.NoError(t, firstErr)
		require.Equal(t, 1, first)
		require.ErrorIs(t, slowErr, context.DeadlineExceeded)
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, watch.QueryRow(context.Background(),
				"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%abandoned%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n))
			return n == 0
		}, 5*time.Second, 20*time.Millisecond, "the abandoned statement no longer runs (first reads late: %v)", firstReadsLate)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var n int
		require.NoError(t, p.QueryRow(ctx, "SELECT 3").Scan(&n))
		cancel()
		require.Equal(t, 3, n)
	}
}

// When PostgreSQL ends the connection under a pipeline (a FATAL error:
// the server shutting down, an administrator), every call in it fails as
// a lost connection with PostgreSQL's reason (the API's 503), not as a
// closed connection nobody explained, and the next read gets a new one.
func TestSharedReadConnectionLostUnderAPipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := sharedPool(t, 1)
	watch, err := pgxpool.NewWithConfig(ctx, pool.Config())
	require.NoError(t, err)
	t.Cleanup(watch.Close)
	for round := range 5 {
		wait := busyLane(t, p, 500*time.Millisecond)
		before := db.Pipelines(p)
		const calls = 10
		var wg sync.WaitGroup
		errs := make([]error, calls)
		wg.Go(func() { errs[0] = p.QueryRow(ctx, "SELECT 1 FROM pg_sleep(5) /* terminated */").Scan(new(int)) })
		queued(t, p, 1) // first in the pipeline
		for i := 1; i < calls; i++ {
			wg.Go(func() { errs[i] = p.QueryRow(ctx, "SELECT 2").Scan(new(int)) })
		}
		queued(t, p, calls)
		wait()
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, watch.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%terminated%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n))
			return n > 0
		}, 5*time.Second, 10*time.Millisecond)
		wg.Wait()
		require.Equal(t, before+1, db.Pipelines(p), "round %d: one pipeline", round)
		for i, err := range errs {
			require.Error(t, err, "round %d call %d", round, i)
			require.NotErrorIs(t, err, pgconn.ErrConnClosed, "round %d call %d", round, i)
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "round %d call %d", round, i)
			require.Equal(t, "57P01", pgErr.Code, "round %d call %d", round, i)
		}
		var n int
		require.NoError(t, p.QueryRow(ctx, "SELECT 3").Scan(&n))
		require.Equal(t, 3, n)
	}
}

// A statement goes alone, on a connection of its own, once a ping has
// shown the database near (here, on the same machine): a wave costs
// less than sharing. Until then, and while the database is far, it
// shares.
func TestReadsGoAloneOnANearDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t, func(c *pgxpool.Config) { c.MaxConns = 9 }) // 7 lanes; one connection to look
	p := db.NewPool(pool, 0, db.ShareWhenFar)
	// Near below 100 ms here rather than 1 ms: under the race detector
	// and the rest of the suite a ping on this machine can take a few
	// milliseconds, and the floor is not what this test is about.
	db.NearFloor(p, 100*time.Millisecond)

	start := db.Pipelines(p)
	require.NoError(t, p.QueryRow(ctx, "SELECT 1").Scan(new(int)))
	require.Equal(t, start+1, db.Pipelines(p), "no round trip timed yet: the first statement shares")
	require.Eventually(t, func() bool { return db.Near(p) }, 10*time.Second, time.Millisecond, "a ping went")

	// Eight at once on eight connections: all running together, none
	// through a pipeline (lanes take at most seven connections). The
	// connections are opened first: opening one can take longer than a
	// sleep on a loaded machine.
	conns := make([]*pgxpool.Conn, 9)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		conns[i] = c
	}
	for _, c := range conns {
		c.Release()
	}
	start = db.Pipelines(p)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() { errs[i] = p.QueryRow(ctx, "SELECT 1 FROM pg_sleep(2) /* alone */").Scan(new(int)) })
	}
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* alone */' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n))
		return n == 8
	}, 5*time.Second, 5*time.Millisecond, "eight statements running at once")
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, start, db.Pipelines(p), "nothing shared")

	db.NearFloor(p, time.Nanosecond) // every answer is slower: far
	start = db.Pipelines(p)
	for i := range 3 {
		var got int
		require.NoError(t, p.QueryRow(ctx, "SELECT $1::int", i).Scan(&got))
		require.Equal(t, i, got)
	}
	require.Equal(t, start+3, db.Pipelines(p), "far: every statement shares")
}
