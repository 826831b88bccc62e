package db

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TxBeginner is what InTx needs from a pool: *pgxpool.Pool, or a pgx.Tx
// for a nested unit of work (which then becomes a savepoint).
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// maxAttempts bounds how often InTx reruns a transaction that PostgreSQL
// aborted for a serialization failure or a deadlock.
const maxAttempts = 5

// InTx is the unit of work: the one place that commits. fn runs inside a
// transaction that commits when fn returns nil and rolls back otherwise.
// A transaction aborted by a serialization failure (40001) or a deadlock
// (40P01) is retried from the start, so fn must not keep state across
// attempts other than what it rebuilds.
func InTx(ctx context.Context, conn TxBeginner, fn func(q *Queries) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return fn(New(tx)) })
		if err == nil || !Retryable(err) || attempt == maxAttempts {
			return err
		}
		// Jittered backoff so that the transactions that collided do not
		// collide again in lockstep.
		backoff := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
	}
}

// Retryable reports a serialization failure or deadlock: PostgreSQL
// aborted the transaction and running it again may well succeed.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// Conn is the connection or transaction the queries run on, for the rare
// statement that is not worth a generated function (tests that provoke
// deadlocks on purpose).
func (q *Queries) Conn() DBTX { return q.db }
