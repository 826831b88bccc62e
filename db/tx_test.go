package db_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// Two transactions that lock the same two rows in opposite order
// deadlock; PostgreSQL aborts one (40P01) and InTx runs it again, so both
// writes land.
func TestInTxRetriesDeadlocks(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters VALUES (1, 0), (2, 0)`)
	require.NoError(t, err)

	var attempts atomic.Int32
	var bothLocked sync.WaitGroup
	bothLocked.Add(2)
	var firstAttempt [2]atomic.Bool
	run := func(i, first, second int) error {
		return db.InTx(ctx, &db.Pool{Pool: pool}, 0, func(q *db.Queries) error {
			attempts.Add(1)
			tx := q.Conn()
			if _, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, first); err != nil {
				return err
			}
			if firstAttempt[i].CompareAndSwap(false, true) {
				// Only on the first attempt: wait until both hold their
				// first row, so the second UPDATEs must deadlock.
				bothLocked.Done()
				bothLocked.Wait()
			}
			_, err := tx.Exec(ctx, `UPDATE counters SET n = n + 10 WHERE id = $1`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(0, 1, 2) }()
	go func() { errs <- run(1, 2, 1) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	// One ran twice, or (the writes being SERIALIZABLE) its rerun waited
	// for the other's row and was aborted once more.
	require.GreaterOrEqual(t, attempts.Load(), int32(3), "one of the two ran again")
	var n1, n2 int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT n FROM counters WHERE id = 1), (SELECT n FROM counters WHERE id = 2)`).Scan(&n1, &n2))
	require.Equal(t, []int{11, 11}, []int{n1, n2}, "each transaction applied exactly once")
}

// A serialization failure (40001) is retried the same way.
func TestInTxRetriesSerializationFailures(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters VALUES (1, 0)`)
	require.NoError(t, err)

	var attempts atomic.Int32
	var readDone sync.WaitGroup
	readDone.Add(2)
	var firstAttempt [2]atomic.Bool
	run := func(i int) error {
		return db.InTx(ctx, &db.Pool{Pool: pool}, 0, func(q *db.Queries) error {
			attempts.Add(1)
			tx := q.Conn()
			if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT n FROM counters WHERE id = 1`).Scan(&n); err != nil {
				return err
			}
			if firstAttempt[i].CompareAndSwap(false, true) {
				readDone.Done()
				readDone.Wait() // both read the same snapshot
			}
			_, err := tx.Exec(ctx, `UPDATE counters SET n = $1 WHERE id = 1`, n+1)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(0) }()
	go func() { errs <- run(1) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.Equal(t, int32(3), attempts.Load())
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT n FROM counters WHERE id = 1`).Scan(&n))
	require.Equal(t, 2, n, "no increment lost")
}

// Writes of one owner that all conflict with each other (each reads every
// row and updates its own: write skew, which SERIALIZABLE aborts): every
// rerun runs while no other transaction of the owner is under way, and
// all of them land, where ten attempts in the crowd could lose ten times.
func TestInTxRerunRunsAloneForItsOwner(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	const rounds = 20
	writers := int(pool.Config().MaxConns) // each first attempt holds a connection at the barrier
	_, err := pool.Exec(ctx, `CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO counters SELECT g, 0 FROM generate_series(1, $1::int) g`, writers)
	require.NoError(t, err)

	p := &db.Pool{Pool: pool}
	var inFlight, reruns, crowded atomic.Int32
	var read sync.WaitGroup // first attempts all read before any writes: they conflict
	run := func(i int) error {
		attempt := 0
		return db.InTx(ctx, p, 42, func(q *db.Queries) error {
			attempt++
			others := inFlight.Add(1) - 1
			defer inFlight.Add(-1)
			if attempt > 1 {
				reruns.Add(1)
				if others > 0 {
					crowded.Add(1)
				}
			}
			tx := q.Conn()
			var sum int
			if err := tx.QueryRow(ctx, `SELECT sum(n) FROM counters`).Scan(&sum); err != nil {
				return err
			}
			if attempt == 1 {
				read.Done()
				read.Wait()
			}
			_, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, i+1)
			if attempt > 1 && inFlight.Load() > 1 {
				crowded.Add(1)
			}
			return err
		})
	}
	for range rounds {
		var wg sync.WaitGroup
		read.Add(writers)
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() { errs[i] = run(i) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
	require.Positive(t, reruns.Load(), "the writes conflicted")
	require.Zero(t, crowded.Load(), "a rerun ran beside another transaction of its owner")
	var total int
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(n) FROM counters`).Scan(&total))
	require.Equal(t, writers*rounds, total, "every write landed once")
}

// A transaction that panics (a bug in a handler) leaves its user's gate:
// the user's next rerun, which needs the whole gate, goes in at once
// instead of waiting for its deadline.
func TestInTxGateSurvivesAPanic(t *testing.T) {
	t.Parallel()
	p := &db.Pool{Pool: testdb.New(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	func() {
		defer func() { require.NotNil(t, recover(), "the panic reaches the caller") }()
		_ = db.InTx(ctx, p, 7, func(*db.Queries) error { panic("a handler's bug") })
	}()
	attempts := 0
	start := time.Now()
	err := db.InTx(ctx, p, 7, func(q *db.Queries) error {
		if attempts++; attempts == 1 {
			return q.Rerun()
		}
		_, err := q.Conn().Exec(ctx, `SELECT 1`)
		return err
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts, "ran again after Rerun")
	require.Less(t, time.Since(start), time.Second, "the rerun did not wait at the gate")
}

// A rerun waits at its user's gate no longer than a request waits for a
// pooled connection, and then answers with the conflict that made it.
func TestInTxGateWaitIsBounded(t *testing.T) {
	t.Parallel()
	p := &db.Pool{Pool: testdb.New(t), AcquireTimeout: time.Second}
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, p, 9, func(q *db.Queries) error {
			if _, err := q.Conn().Exec(ctx, `SELECT 1`); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-done:
		t.Fatalf("the first transaction did not start: %v", err)
	}
	start := time.Now()
	err := db.InTx(ctx, p, 9, func(q *db.Queries) error { return q.Rerun() })
	waited := time.Since(start)
	close(release)
	require.NoError(t, <-done)
	require.ErrorIs(t, err, db.ErrRerun)
	require.True(t, db.Retryable(err), "answered as a conflict (503 with Retry-After)")
	require.GreaterOrEqual(t, waited, time.Second)
	require.Less(t, waited, 5*time.Second, "one wait at the gate, not one per attempt")
}

// A unit of work that asked for READ COMMITTED and then calls
// Serializable runs again, SERIALIZABLE, where ReadCommitted is ignored.
func TestInTxReadCommittedThenSerializable(t *testing.T) {
	t.Parallel()
	p := &db.Pool{Pool: testdb.New(t)}
	ctx := context.Background()
	var levels []string
	err := db.InTx(ctx, p, 0, func(q *db.Queries) error {
		q = q.ReadCommitted()
		var level string
		if err := q.Conn().QueryRow(ctx, `SELECT current_setting('transaction_isolation')`).Scan(&level); err != nil {
			return err
		}
		levels = append(levels, level)
		return q.Serializable()
	})
	require.NoError(t, err)
	require.Equal(t, []string{"read committed", "serializable"}, levels)
}

// Where the owner of a unit of work allows it (LastMayCommit), COMMIT
// goes with the statement marked Last: the write is committed, visible to
// others, before the function returns. A COMMIT that fails (a deferred
// constraint here; a serialization failure likewise) is that statement's
// error and nothing is kept; a failing last statement keeps nothing
// either; a statement after the last one is refused, and the error it
// makes does not rerun the committed write.
func TestInTxCommitsWithTheLastStatement(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	p := &db.Pool{Pool: pool}
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, n int NOT NULL CHECK (n >= 0),
		CONSTRAINT notes_n_unique UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)`)
	require.NoError(t, err)
	visible := func(id int) bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM notes WHERE id = $1`, id).Scan(&n))
		return n == 1
	}

	// Committed with the last statement, before fn returns.
	var seenInside bool
	require.NoError(t, db.InTx(ctx, p, 0, func(q *db.Queries) error {
		q.LastMayCommit()
		if _, err := q.Conn().Exec(ctx, `INSERT INTO notes VALUES (1, 1)`); err != nil {
			return err
		}
		if _, err := q.Last().Conn().Exec(ctx, `INSERT INTO notes VALUES (2, 2)`); err != nil {
			return err
		}
		seenInside = visible(1) && visible(2)
		return nil
	}))
	require.True(t, seenInside, "COMMIT went with the last statement")

	// Without LastMayCommit, Last changes nothing: COMMIT comes after fn.
	require.NoError(t, db.InTx(ctx, p, 0, func(q *db.Queries) error {
		rows, err := q.Last().Conn().Query(ctx, `INSERT INTO notes VALUES (3, 3) RETURNING id`)
		if err != nil {
			return err
		}
		rows.Close()
		seenInside = visible(3)
		return rows.Err()
	}))
	require.False(t, seenInside, "not committed before fn returned")
	require.True(t, visible(3))

	// A COMMIT that fails is the last statement's error; nothing is kept.
	var attempts int
	err = db.InTx(ctx, p, 0, func(q *db.Queries) error {
		attempts++
		q.LastMayCommit()
		if _, err := q.Conn().Exec(ctx, `INSERT INTO notes VALUES (4, 4)`); err != nil {
			return err
		}
		var id int
		return q.Last().Conn().QueryRow(ctx, `INSERT INTO notes VALUES (5, 4) RETURNING id`).Scan(&id)
	})
	require.ErrorContains(t, err, "notes_n_unique")
	require.Equal(t, 1, attempts)
	require.False(t, visible(4))
	require.False(t, visible(5))

	// A last statement that fails keeps nothing, and leaves the
	// connection fit for the next unit of work.
	err = db.InTx(ctx, p, 0, func(q *db.Queries) error {
		q.LastMayCommit()
		if _, err := q.Conn().Exec(ctx, `INSERT INTO notes VALUES (6, 6)`); err != nil {
			return err
		}
		_, err := q.Last().Conn().Exec(ctx, `INSERT INTO notes VALUES (7, -1)`)
		return err
	})
	require.ErrorContains(t, err, "notes_n_check")
	require.False(t, visible(6))

	// A statement after the last one is refused; the write it follows
	// stays committed, and is not run again.
	attempts = 0
	err = db.InTx(ctx, p, 0, func(q *db.Queries) error {
		attempts++
		q.LastMayCommit()
		if _, err := q.Last().Conn().Exec(ctx, `INSERT INTO notes VALUES (8, 8)`); err != nil {
			return err
		}
		_, err := q.Conn().Exec(ctx, `INSERT INTO notes VALUES (9, 9)`)
		require.ErrorContains(t, err, "after the unit of work's last one")
		return db.ErrRerun // would rerun any write that had not committed
	})
	require.ErrorContains(t, err, "after the unit of work committed")
	require.Equal(t, 1, attempts)
	require.True(t, visible(8))
	require.False(t, visible(9))

	// The request ending while the last statement runs cancels it in
	// PostgreSQL, which then skips the COMMIT: nothing is kept, and the
	// attempt's error is the cancellation, not a lost connection.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = db.InTx(dctx, p, 0, func(q *db.Queries) error {
		q.LastMayCommit()
		if _, err := q.Conn().Exec(dctx, `INSERT INTO notes VALUES (10, 10)`); err != nil {
			return err
		}
		_, err := q.Last().Conn().Exec(dctx, `INSERT INTO notes SELECT 11, 11 FROM pg_sleep(3)`)
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "57014", pgErr.Code, "cancelled in PostgreSQL")
	require.False(t, visible(10))
	require.False(t, visible(11))

	// Rows the caller cannot scan do not undo the COMMIT that went with
	// them: the error says the write may have committed, and the attempt
	// is not run again.
	attempts = 0
	err = db.InTx(ctx, p, 0, func(q *db.Queries) error {
		attempts++
		q.LastMayCommit()
		var at time.Time
		return q.Last().Conn().QueryRow(ctx, `INSERT INTO notes VALUES (12, 12) RETURNING id`).Scan(&at)
	})
	require.ErrorContains(t, err, "may have committed")
	require.Equal(t, 1, attempts)
	require.True(t, visible(12))

	// A last statement that refuses in SQL (writes nothing past a limit)
	// lets fn answer its own error after the COMMIT: LastWroteNothing
	// makes that error the unit of work's, as it is, where it would
	// otherwise be a failure after a commit.
	refused := errors.New("over the limit")
	var stateAfterLast string
	err = db.InTx(ctx, p, 0, func(q *db.Queries) error {
		q.LastMayCommit()
		var pid, n int
		if err := q.Last().Conn().QueryRow(ctx, `WITH ins AS (INSERT INTO notes SELECT 13, 13 WHERE false RETURNING id)
			SELECT pg_backend_pid(), count(*) FROM ins`).Scan(&pid, &n); err != nil {
			return err
		}
		// The COMMIT went along: that connection is out of its transaction.
		require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&stateAfterLast))
		q.LastWroteNothing()
		return refused
	})
	require.Equal(t, "idle", stateAfterLast, "committed with the last statement, not left open")
	require.ErrorIs(t, err, refused)
	require.NotContains(t, err.Error(), "after the unit of work committed")
}
