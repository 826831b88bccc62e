package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxAttempts bounds how often InTx reruns a transaction that PostgreSQL
// aborted for a serialization failure or a deadlock. Under SERIALIZABLE a
// burst of writers on one user's rows can abort the same transaction a few
// times in a row; ten attempts with growing backoff ride that out, and a
// request that still loses answers 503 with Retry-After.
const maxAttempts = 10

// beginSerializable opens every write transaction but those that ask
// for READ COMMITTED (Queries.ReadCommitted). The contract's rules
// read before they write (no done task with an open subtask, two levels
// at most, no task in an archived or deleted project, one tag per name),
// and at READ COMMITTED a row lock taken after a wait does not refresh the
// statement's snapshot: the check can pass on rows that a concurrent
// transaction has already changed. SERIALIZABLE makes PostgreSQL abort
// one side of any such interleaving with 40001; InTx reruns it, and the
// rerun sees the winner's commit and answers what it would have answered
// had it come second. It keeps every rule in the statements that already
// make it (no extra lock-then-reread round trip), and reads outside write
// transactions are unaffected. Its price: predicate locks are per index
// page, so writes of neighbouring rows (other users' too) can abort each
// other; InTx reruns them (alone per user, writeGate).
const beginSerializable = "BEGIN ISOLATION LEVEL SERIALIZABLE"

// beginReadCommitted opens a write transaction that asked for it
// (Queries.ReadCommitted).
const beginReadCommitted = "BEGIN ISOLATION LEVEL READ COMMITTED"

// InTx is the unit of work: the one place that commits. fn runs inside a
// transaction that commits when fn returns nil and rolls back otherwise.
// A transaction aborted by a serialization failure (40001) or a deadlock
// (40P01) is retried from the start, so fn must not keep state across
// attempts other than what it rebuilds; so is one that fn ended with
// Queries.Rerun or Queries.Serializable (then SERIALIZABLE from there on).
//
// owner is the user the transaction writes for (0: none); a rerun waits
// until it can run alone against owner's other writes in this process
// (writeGate).
//
// BEGIN travels with fn's first statement in one pipelined batch, so a
// transaction costs its statements plus one round trip (COMMIT) rather
// than plus two; a transaction that runs no statement costs nothing.
// COMMIT can travel with the last statement too (Queries.Last, where the
// owner of the unit of work allowed it with Queries.LastMayCommit): then
// a write that decides on nothing it reads costs its statements alone.
func InTx(ctx context.Context, pool *Pool, owner int64, fn func(q *Queries) error) error {
	var err error
	serializable := false // an attempt found READ COMMITTED not enough
	for attempt := 1; ; attempt++ {
		var ran bool
		if ran, err = inGate(ctx, pool, owner, attempt, err, serializable, fn); !ran || err == nil || !Retryable(err) || attempt == maxAttempts {
			return err
		}
		serializable = serializable || errors.Is(err, errNeedsSerializable)
		// Jittered backoff so that the transactions that collided do not
		// collide again in lockstep.
		backoff := time.Duration(attempt) * time.Duration(1+rand.IntN(4)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
	}
}

// inGate runs one attempt inside owner's gate (writeGate), which it
// leaves however the attempt ends, a panic included: a slot kept would
// hold the user's reruns, and all their writes behind those, until their
// deadlines. The wait at the gate is bounded like the wait for a pooled
// connection; a rerun that cannot get in answers with the conflict that
// made it (lost is the previous attempt's error), a first attempt with
// ErrPoolBusy; either way ran is false and InTx tries no more.
func inGate(ctx context.Context, pool *Pool, owner int64, attempt int, lost error, serializable bool, fn func(q *Queries) error) (ran bool, err error) {
	var leave func()
	err = pool.waitBounded(ctx, func(ctx context.Context) (err error) {
		leave, err = pool.writers.enter(ctx, owner, attempt > 1)
		return err
	})
	if err != nil {
		if lost != nil {
			return false, lost
		}
		return false, err
	}
	defer leave()
	return true, inTxOnce(ctx, pool, serializable, fn)
}

func inTxOnce(ctx context.Context, pool *Pool, serializable bool, fn func(q *Queries) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// pgxpool destroys a connection released in any state but idle, so a
	// failed ROLLBACK cannot hand a broken transaction to the next request.
	defer conn.Release()
	tx := &lazyTx{conn: conn.Conn(), serializableOnly: serializable}
	err = fn(New(tx))
	if tx.last != nil {
		// Rows of the last statement that fn left open: read to the end,
		// COMMIT's answer with them.
		_ = tx.last.Close()
	}
	if tx.aborted != nil {
		// PostgreSQL ended the transaction to resolve a conflict: whatever
		// fn made of the failed statement (an error it translated, or none),
		// the attempt is over and its error says so, for InTx to retry.
		err = tx.aborted
	}
	if tx.ended {
		// COMMIT went with the last statement: its outcome is the
		// attempt's. An error fn returned after a commit cannot undo it,
		// and must not make InTx run the write again (%v, not %w).
		switch {
		case tx.commitErr != nil:
			return tx.commitErr
		case err != nil && tx.lastWroteNothing:
			return err // an answer (LastWroteNothing), not a failure
		case err != nil:
			return fmt.Errorf("db: an error after the unit of work committed with its last statement: %v", err)
		}
		return nil
	}
	if err != nil {
		if tx.begun {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return err
	}
	if !tx.begun {
		return nil
	}
	return commitOutcome(conn.Exec(ctx, "COMMIT"))
}

// commitOutcome is what a COMMIT's answer means. A statement that failed
// while fn went on as if not makes PostgreSQL roll back instead of
// committing, and answer "ROLLBACK": the caller must not hear success.
func commitOutcome(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

// lazyTx is a DBTX that opens its transaction with its first statement:
// BEGIN and that statement go out together in one batch. It remembers a
// statement that failed for a serialization failure or deadlock, which
// ends the attempt whatever the caller does with the error.
type lazyTx struct {
	conn          *pgx.Conn
	begun         bool
	readCommitted bool // ReadCommitted was asked for before BEGIN
	// serializableOnly: an earlier attempt found READ COMMITTED not
	// enough (Queries.Serializable); ReadCommitted is ignored.
	serializableOnly bool
	aborted          error

	lastMayCommit bool       // LastMayCommit: nothing follows fn in the transaction
	commitNext    bool       // Last: the next statement takes COMMIT along
	ended         bool       // that COMMIT has answered: no statement may follow
	commitErr     error      // what it answered, when not a commit
	last          *lastBatch // the batch that carried COMMIT, if one did
	// lastWroteNothing: LastWroteNothing vouched that the last statement
	// committed nothing, so fn's error is its answer.
	lastWroteNothing bool
}

// note records err when it is one that aborts the transaction for a
// retry, and passes it on.
func (t *lazyTx) note(err error) error {
	if Retryable(err) && t.aborted == nil {
		t.aborted = err
	}
	return err
}

// batch sends BEGIN with the statement the first time, the statement
// alone after that; with COMMIT after it when Last asked for that
// (commit true). A nil batch: the statement goes alone.
func (t *lazyTx) batch(ctx context.Context, sql string, args []any) (br pgx.BatchResults, first, commit bool) {
	commit, t.commitNext = t.commitNext, false
	if t.begun && !commit {
		return nil, false, false
	}
	first = !t.begun
	t.begun = true
	b := &pgx.Batch{}
	if first && t.readCommitted {
		b.Queue(beginReadCommitted)
	} else if first {
		b.Queue(beginSerializable)
	}
	b.Queue(sql, args...)
	if commit {
		b.Queue("COMMIT")
		return t.sendLast(ctx, b), first, true
	}
	return t.conn.SendBatch(ctx, b), first, false
}

// lastStatementLimit bounds the wait for the batch that carries COMMIT
// when PostgreSQL does not answer even a cancel request.
const lastStatementLimit = 30 * time.Second

// sendLast sends the batch that carries COMMIT. Once COMMIT is sent,
// PostgreSQL may commit, so the batch is read to its end whatever the
// request's context does (a closed connection would leave a commit
// unknown, and the client told it failed): when the request ends first,
// a cancel request stops the statement in PostgreSQL instead (the COMMIT
// behind a failed statement is skipped), and the connection, which a
// late cancel could reach in its next use, is closed rather than reused.
func (t *lazyTx) sendLast(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastStatementLimit)
	stop := context.AfterFunc(ctx, func() {
		cctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = t.conn.PgConn().CancelRequest(cctx)
	})
	t.last = &lastBatch{BatchResults: t.conn.SendBatch(bctx, b), tx: t, done: func() {
		if !stop() { // the cancel went, or is going
			cctx, done := context.WithTimeout(context.Background(), time.Second)
			_ = t.conn.Close(cctx)
			done()
		}
		cancel()
	}}
	return t.last
}

// lastBatch is the batch that carries COMMIT. Closed, it tells how the
// transaction ended when the caller did not read COMMIT's answer itself
// (committed): a statement that failed leaves it open and aborted
// (PostgreSQL skipped the COMMIT; InTx rolls back), else it has ended as
// COMMIT answered, even when the caller could not read the statement's
// rows.
type lastBatch struct {
	pgx.BatchResults
	tx     *lazyTx
	done   func()
	closed bool
	err    error
}

func (b *lastBatch) Close() error {
	if b.closed {
		return b.err
	}
	b.closed = true
	b.err = b.BatchResults.Close()
	if t := b.tx; !t.ended && !t.conn.IsClosed() && t.conn.PgConn().TxStatus() == 'I' {
		t.ended = true
		t.commitErr = t.note(b.err)
	}
	b.done()
	return b.err
}

// errAfterCommit: a statement after the one that took COMMIT along would
// run outside the transaction; it is refused instead.
var errAfterCommit = errors.New("db: a statement after the unit of work's last one (Queries.Last)")

// committed reads the answer to the COMMIT that went with the last
// statement, once that statement succeeded, and ends the transaction.
func (t *lazyTx) committed(br pgx.BatchResults) error {
	t.ended = true
	t.commitErr = t.note(commitOutcome(br.Exec()))
	return t.commitErr
}

// lastFailed takes the error the last statement ended with (its rows
// included). PostgreSQL's own answer means it failed there and skipped
// the COMMIT behind it: the transaction is open and aborted, and InTx
// rolls it back. Any other error (rows the caller could not scan, a
// connection lost) leaves COMMIT's fate unknown: the attempt ends with an
// error that says so and that InTx does not retry.
func (t *lazyTx) lastFailed(err error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return
	}
	t.ended = true
	t.commitErr = fmt.Errorf("db: the last statement failed before COMMIT answered (the write may have committed): %v", err)
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.exec(ctx, sql, args)
	return tag, t.note(err)
}

func (t *lazyTx) exec(ctx context.Context, sql string, args []any) (pgconn.CommandTag, error) {
	if t.ended {
		return pgconn.CommandTag{}, errAfterCommit
	}
	br, first, commit := t.batch(ctx, sql, args)
	if br == nil {
		return t.conn.Exec(ctx, sql, args...)
	}
	defer br.Close()
	var tag pgconn.CommandTag
	var err error
	if first {
		_, err = br.Exec()
	}
	if err == nil {
		tag, err = br.Exec()
	}
	switch {
	case commit && err == nil:
		err = t.committed(br)
	case commit:
		t.lastFailed(err)
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.query(ctx, sql, args)
	if err != nil {
		return nil, t.note(err)
	}
	return &notingRows{Rows: rows, tx: t}, nil
}

func (t *lazyTx) query(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	if t.ended {
		return nil, errAfterCommit
	}
	br, first, commit := t.batch(ctx, sql, args)
	if br == nil {
		return t.conn.Query(ctx, sql, args...)
	}
	var rows pgx.Rows
	var err error
	if first {
		_, err = br.Exec()
	}
	if err == nil {
		rows, err = br.Query()
	}
	if err != nil {
		if commit {
			t.lastFailed(err)
		}
		br.Close()
		return nil, err
	}
	if commit {
		return newCommittingRows(rows, t, br), nil
	}
	return &closingRows{Rows: rows, onClose: func() { _ = br.Close() }}, nil
}

// committingRows are the last statement's rows, COMMIT's answer behind
// them: when they close having ended well, the commit's error (a
// serialization failure at commit, say) becomes theirs, so that the
// caller's Scan or Err sees it. (A statement that failed made
// PostgreSQL skip the COMMIT behind it: the transaction is left open
// and aborted, and InTx rolls it back.)
type committingRows struct {
	closingRows
	closed bool
	err    error // the statement's or the COMMIT's, once closed
}

func newCommittingRows(rows pgx.Rows, t *lazyTx, br pgx.BatchResults) *committingRows {
	r := &committingRows{}
	r.closingRows = closingRows{Rows: rows, onClose: func() {
		r.closed = true
		if r.err = rows.Err(); r.err == nil {
			r.err = t.committed(br)
		} else {
			t.lastFailed(r.err)
		}
		_ = br.Close()
	}}
	return r
}

func (r *committingRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

// notingRows are a statement's rows whose error, when they end with one,
// the transaction notes.
type notingRows struct {
	pgx.Rows
	tx *lazyTx
}

func (r *notingRows) Err() error { return r.tx.note(r.Rows.Err()) }

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &lazyRow{rows: rows, err: err}
}

// AheadOfTx is the queries of q's connection outside its transaction,
// when q is a unit of work that has not begun it yet (lazyTx sends BEGIN
// with the first statement); otherwise q itself. A read that needs no
// transactional guarantee, such as counting a user's rows for a quota,
// runs there so that it neither joins the SERIALIZABLE transaction's
// conflict tracking nor needs a second connection.
func (q *Queries) AheadOfTx() *Queries {
	if t, ok := q.db.(*lazyTx); ok && !t.begun {
		return New(t.conn)
	}
	return q
}

// ReadCommitted makes q's transaction READ COMMITTED instead of
// SERIALIZABLE, when q is a unit of work that has not begun it yet; it
// returns q. Only for a write whose every decision reads rows it locks
// in the same statement (FOR UPDATE, FOR SHARE): at READ COMMITTED a
// locking read that waited returns the row as its locker committed it,
// so the decision is as fresh as under SERIALIZABLE, while PostgreSQL's
// predicate locks, which are per index page and abort writes to
// neighbouring rows of other users, are not taken at all. A write that
// decides on rows it does not lock (no such row exists; no other row
// refers to it) must stay SERIALIZABLE.
func (q *Queries) ReadCommitted() *Queries {
	if t, ok := q.db.(*lazyTx); ok && !t.begun && !t.serializableOnly {
		t.readCommitted = true
	}
	return q
}

// LastMayCommit says that nothing follows the unit of work's function in
// its transaction (no Idempotency-Key's response to store), so that the
// function's last statement may take COMMIT along (Last); it returns q.
func (q *Queries) LastMayCommit() *Queries {
	if t, ok := q.db.(*lazyTx); ok {
		t.lastMayCommit = true
	}
	return q
}

// Last marks q's next statement as its unit of work's last: where the
// owner allowed it (LastMayCommit), COMMIT goes with it in one round
// trip, and the statement's error is the commit's when that fails (a
// serialization failure at commit ends the attempt like any). Only for a
// statement after which the write decides nothing and reads nothing: a
// statement after it is refused, and an error returned after it cannot
// undo it. It returns q.
func (q *Queries) Last() *Queries {
	if t, ok := q.db.(*lazyTx); ok && t.lastMayCommit && t.aborted == nil {
		t.commitNext = true
	}
	return q
}

// LastIf is Last when last holds, else q: for a write whose last
// statement is its last only when nothing after it can still refuse (a
// refusal that must come second runs it uncommitted, then rolls back).
func (q *Queries) LastIf(last bool) *Queries {
	if last {
		return q.Last()
	}
	return q
}

// LastWroteNothing vouches that the statement marked Last wrote nothing,
// for a statement that refuses in SQL (it writes nothing when a limit
// would be passed) and leaves the refusal's wording to its caller: the
// error fn returns next is then the unit of work's answer, as it is,
// rather than an error after a commit (which InTx reports as a failure).
// Whether COMMIT went with the statement or not, nothing was written.
func (q *Queries) LastWroteNothing() {
	if t, ok := q.db.(*lazyTx); ok {
		t.lastWroteNothing = true
	}
}

// Serializable is for a write that asked for READ COMMITTED and then
// found, in the rows it locked, that it must decide on rows it cannot
// lock: it ends the attempt (errNeedsSerializable, whatever the caller
// makes of the error) and InTx runs it again SERIALIZABLE. On a
// transaction that is SERIALIZABLE already it does nothing and answers
// nil.
func (q *Queries) Serializable() error {
	t, ok := q.db.(*lazyTx)
	if !ok || !t.readCommitted {
		return nil
	}
	return t.note(errNeedsSerializable)
}

var errNeedsSerializable = fmt.Errorf("%w: SERIALIZABLE", ErrRerun)

// Retryable reports a serialization failure or deadlock (PostgreSQL
// aborted the transaction) or ErrRerun: running it again may well
// succeed.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, ErrRerun) || errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// Rerun ends the current attempt of q's unit of work, whatever the
// caller makes of the error it returns: InTx runs the transaction again
// from the start (ErrRerun).
func (q *Queries) Rerun() error {
	if t, ok := q.db.(*lazyTx); ok {
		return t.note(ErrRerun)
	}
	return ErrRerun
}

// ErrRerun is what a write returns when it found its statement's snapshot
// too old to decide on (a READ COMMITTED write, Queries.ReadCommitted,
// whose locked row refers to one the snapshot cannot see): InTx runs it
// again from the start, as after a serialization failure.
var ErrRerun = errors.New("db: the transaction must run again on a newer snapshot")

// Conn is the connection or transaction the queries run on, for the rare
// statement that is not worth a generated function (tests that provoke
// deadlocks on purpose).
func (q *Queries) Conn() DBTX { return q.db }
