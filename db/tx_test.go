package db_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

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
		return db.InTx(ctx, &db.Pool{Pool: pool}, func(q *db.Queries) error {
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
		return db.InTx(ctx, &db.Pool{Pool: pool}, func(q *db.Queries) error {
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
