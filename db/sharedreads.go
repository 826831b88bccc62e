package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sharedReads lets statements that run outside a transaction and arrive
// together share pooled connections: each batch travels to PostgreSQL
// as one pipeline in one round trip, every statement followed by its own
// Sync. A pool of N connections would otherwise answer a burst of M > N
// requests in M/N waves of one round trip each; with the database 100 ms
// away, that is the difference between 100 ms and 400 ms for a burst of
// 100 on the default pool.
//
// Each statement (with its Sync) is its own implicit transaction, exactly
// as when it runs alone on a pooled connection: it takes its snapshot
// when PostgreSQL reaches it, so it sees every write acknowledged before
// it was sent, and an error fails its own request only (PostgreSQL skips
// to the next Sync, which is the next request's).
//
// Only far: with the database near (a round trip under
// sharedNearFloor: the lowest of the last few pings, one a second at
// most and only while statements come) every statement takes a
// connection of its own, as in a plain pool. There a wave costs less
// than sharing, which costs CPU (a hand-off to the lane's goroutine and
// back) and throughput (statements of one pipeline run one after
// another in one backend): with the database on the same machine, lists
// shared took 7 % more CPU and ran 8 % fewer a second. A ping rather
// than the statements' own answers: PostgreSQL answers at a Sync, after
// executing, and a list executes for about a millisecond. Until a ping
// has come back, the database counts as far. (Letting half the lanes go
// alone while far doubled a burst's time, 100 ms away: 217 ms for 100
// gets, against 117 ms all shared.)
//
// Batching policy: when no batch is in flight, a statement leaves at
// once (an idle server adds no latency). While batches are in flight it
// waits a short window (a quarter of the recent round trip, at most
// 2 ms) for company; then what waits leaves spread over up to half the
// free lanes, at least four statements to a lane (statements of one
// pipeline run one after another in one backend, so a few lanes let
// PostgreSQL use its cores, and half the free lanes stay for what comes
// next). A lane that finishes takes its share of what waits at once. So
// a burst becomes a handful of pipelines sent within a fraction of a
// round trip of each other instead of waves.
//
// The lane hands each caller its rows as they stream in and waits for
// the caller to close them before reading the next caller's: copying
// whole results out of the connection cost more CPU than it saved.
//
// A caller whose context ends stops waiting at once; the statement is
// cancelled in PostgreSQL when every caller of its batch has gone (the
// batch's context ends, and pgx cancels as it does for any statement),
// and the batch's deadline is its callers' latest.
type sharedReads struct {
	pool      *Pool
	tracer    pgx.QueryTracer // tests count statements; nil in service
	maxLanes  int             // batches in flight at most (connections used)
	nearFloor time.Duration   // a floor below it is near: statements go alone (0: never near, ShareAlways)
	maxBatch  int             // statements per pipeline at most

	mu      sync.Mutex
	pending []*sharedCall
	lanes   int  // batches in flight
	armed   bool // a window timer will dispatch pending
	rtt     atomic.Int64

	pingMu   sync.Mutex
	pings    [sharedPings]time.Duration // the last round trips timed, a ring
	pinged   int                        // pings timed so far
	floor    atomic.Int64               // the lowest of pings (ns); 0: none yet
	nextPing atomic.Int64               // when a ping may go next (Unix ns)

	pipelines  atomic.Int64 // sent, for tests
	described  sync.Map     // SQL → *pgconn.StatementDescription
	generation atomic.Int64 // bumped when a description is forgotten: new names
}

const (
	sharedMaxWindow = 2 * time.Millisecond
	sharedMaxBatch  = 64
	sharedMinChunk  = 4
	sharedNearFloor = time.Millisecond
	sharedPingEvery = time.Second
	sharedPings     = 4
)

// A sharedStmt is one statement of a call.
type sharedStmt struct {
	sql  string
	args []any
}

// sharedCall is one caller's unit: its statements run in order in one
// implicit transaction (one Sync); the rows of stmts[main] are its.
type sharedCall struct {
	ctx   context.Context
	stmts []sharedStmt
	main  int

	state  atomic.Int32 // callWaiting, callTaken or callAbandoned
	result chan sharedResult
	done   chan struct{} // the caller closed its rows: the lane reads on
	batch  *sharedBatch  // set under sharedReads.mu when a lane takes it
}

const (
	callWaiting int32 = iota
	callTaken
	callAbandoned
)

type sharedResult struct {
	rows pgx.Rows
	err  error
}

// sharedBatch is one pipeline's calls and the context they share.
type sharedBatch struct {
	calls  []*sharedCall
	ctx    context.Context
	cancel context.CancelFunc
	live   int  // calls still waiting or reading; guarded by sharedReads.mu
	gone   bool // a call gave up: once none is live, the rest is nobody's
}

func newSharedReads(p *Pool, always bool) *sharedReads {
	cfg := p.Pool.Config()
	// A quarter of the pool stays for transactions, which cannot share.
	lanes := max(1, int(cfg.MaxConns)-int(cfg.MaxConns)/4)
	s := &sharedReads{pool: p, maxLanes: lanes, nearFloor: sharedNearFloor, maxBatch: sharedMaxBatch}
	s.tracer = cfg.ConnConfig.Tracer
	if always {
		s.nearFloor = 0
	}
	s.rtt.Store(int64(time.Millisecond))
	return s
}

// sharable says whether statements on this pool can share connections:
// only with pgx's default statement cache, whose prepared statements
// live on the connection. Behind a transaction-pooling PgBouncer (exec
// mode cache_describe or another) each statement goes alone, as before.
func sharable(p *pgxpool.Pool) bool {
	return p.Config().ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement
}

// goAlone says whether a statement takes a connection of its own: the
// database is near, or reads do not share (s nil).
func (s *sharedReads) goAlone() bool { return s == nil || s.near() }

func (s *sharedReads) query(ctx context.Context, stmts []sharedStmt, main int) (pgx.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &sharedCall{ctx: ctx, stmts: stmts, main: main, result: make(chan sharedResult, 1), done: make(chan struct{}, 1)}
	s.submit(c)
	select {
	case r := <-c.result:
		return r.rows, r.err
	case <-ctx.Done():
		if s.abandon(c) {
			return nil, ctx.Err()
		}
		r := <-c.result // taken just now: its rows are on their way
		return r.rows, r.err
	}
}

func (s *sharedReads) submit(c *sharedCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, c)
	switch {
	case s.lanes >= s.maxLanes:
		// a lane takes it when it finishes its batch
	case s.lanes == 0 || len(s.pending) >= s.maxBatch:
		s.dispatchLocked()
	case !s.armed:
		s.armed = true
		time.AfterFunc(s.window(), s.windowEnded)
	}
}

// window is how long a statement waits for company while others are in
// flight: a quarter of the recent round trip, so waiting never costs
// more than a fraction of what it saves.
func (s *sharedReads) window() time.Duration {
	return min(time.Duration(s.rtt.Load())/4, sharedMaxWindow)
}

func (s *sharedReads) windowEnded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	s.dispatchLocked()
}

// dispatchLocked starts lanes for the pending calls. They are spread
// over up to half the free lanes, at least sharedMinChunk to a lane:
// statements in one pipeline run one after another in one backend, so
// a few lanes let PostgreSQL use its cores, and half keeps lanes for
// what arrives next. s.mu is held.
func (s *sharedReads) dispatchLocked() {
	for len(s.pending) > 0 && s.lanes < s.maxLanes {
		free := s.maxLanes - s.lanes
		lanes := min((len(s.pending)+sharedMinChunk-1)/sharedMinChunk, (free+1)/2)
		chunk := min((len(s.pending)+lanes-1)/lanes, s.maxBatch)
		for range lanes {
			b := s.takeLocked(chunk)
			if b == nil {
				return
			}
			s.lanes++
			go s.lane(b)
		}
	}
}

// takeLocked makes a batch of up to n pending calls (the abandoned left
// out); nil when none wait. s.mu is held.
func (s *sharedReads) takeLocked(n int) *sharedBatch {
	b := &sharedBatch{}
	i := 0
	for i < len(s.pending) && len(b.calls) < n {
		c := s.pending[i]
		i++
		if c.state.Load() == callAbandoned {
			continue
		}
		c.batch = b
		b.calls = append(b.calls, c)
	}
	s.pending = s.pending[i:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	if len(b.calls) == 0 {
		return nil
	}
	b.live = len(b.calls)
	b.ctx, b.cancel = batchContext(b.calls)
	return b
}

// batchContext ends when every call has gone (see abandon) or at the
// latest of their deadlines.
func batchContext(calls []*sharedCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// abandon gives up a call whose context ended before its rows came;
// false when the lane took it first (its result is on its way). The last
// call of a batch to go cancels the batch's statements in PostgreSQL.
func (s *sharedReads) abandon(c *sharedCall) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.state.CompareAndSwap(callWaiting, callAbandoned) {
		return false
	}
	if b := c.batch; b != nil {
		b.gone = true
		b.leaveLocked()
	}
	return true
}

// next is the lane's following batch: a share of what waits, the rest
// spread over other lanes at once (it has waited for a lane already).
// nil: none waits, and the lane ends.
func (s *sharedReads) next() *sharedBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pending); n > 0 {
		free := s.maxLanes - s.lanes + 1 // this lane too
		lanes := min((n+sharedMinChunk-1)/sharedMinChunk, (free+1)/2)
		b := s.takeLocked(min((n+lanes-1)/lanes, s.maxBatch))
		s.dispatchLocked()
		if b != nil {
			return b
		}
	}
	s.lanes--
	return nil
}

// lane runs batches on one connection until none wait.
func (s *sharedReads) lane(b *sharedBatch) {
	var conn *pgxpool.Conn
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	for ; b != nil; b = s.next() {
		if conn == nil {
			var err error
			if conn, err = s.pool.Acquire(b.ctx); err != nil {
				conn = nil
				s.fail(b, 0, err)
				b.cancel()
				continue
			}
		}
		s.run(conn.Conn(), b)
		b.cancel()
		if conn.Conn().IsClosed() {
			conn.Release()
			conn = nil
		}
	}
}

// observe keeps a moving average of the round trip (send to the first
// answer of a pipeline), the window's basis.
func (s *sharedReads) observe(d time.Duration) {
	old := s.rtt.Load()
	s.rtt.Store(old + (int64(d)-old)/8)
}

// near says whether the database is near: the lowest of the last pings
// under nearFloor. It sends the next ping when one is due.
func (s *sharedReads) near() bool {
	if s.nearFloor == 0 {
		return false
	}
	now := time.Now().UnixNano()
	if next := s.nextPing.Load(); now >= next && s.nextPing.CompareAndSwap(next, now+int64(sharedPingEvery)) {
		go s.ping()
	}
	floor := s.floor.Load()
	return floor != 0 && time.Duration(floor) < s.nearFloor
}

// ping times a round trip on a pooled connection, only when one is idle
// (none idle: no ping, the floor stays; another caller may still take
// that one first, and the ping then waits at most until the next is
// due) and keeps the lowest of the last sharedPings as the floor: a busy
// machine answers some pings late.
func (s *sharedReads) ping() {
	if s.pool.Pool.Stat().IdleConns() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedPingEvery)
	defer cancel()
	conn, err := s.pool.Pool.Acquire(ctx)
	if err != nil {
		return
	}
	start := time.Now()
	err = conn.Conn().PgConn().Ping(ctx)
	d := time.Since(start)
	conn.Release()
	if err != nil {
		return
	}
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	s.pings[s.pinged%sharedPings] = d
	s.pinged++
	floor := d
	for _, p := range s.pings[:min(s.pinged, sharedPings)] {
		floor = min(floor, p)
	}
	s.floor.Store(max(int64(floor), 1))
}

// fail answers the calls from the i-th on with err.
func (s *sharedReads) fail(b *sharedBatch, i int, err error) {
	for _, c := range b.calls[i:] {
		s.deliver(c, nil, err)
	}
}

// deliver answers a call once (later answers are dropped): its rows or
// error, unless it has gone, and waits until the caller has read the
// rows, which stream from the connection the next call's results follow
// on. A gone caller's rows are discarded. A served call no longer counts
// among the batch's live ones, so that the batch is cancelled when the
// callers still waiting all give up.
func (s *sharedReads) deliver(c *sharedCall, rows pgx.Rows, err error) {
	if !c.state.CompareAndSwap(callWaiting, callTaken) {
		if rows != nil {
			rows.Close()
		}
		return
	}
	if rows == nil {
		c.result <- sharedResult{err: err}
	} else {
		c.result <- sharedResult{rows: &closingRows{Rows: rows, onClose: func() { c.done <- struct{}{} }}}
		<-c.done
	}
	s.mu.Lock()
	c.batch.leaveLocked()
	s.mu.Unlock()
}

// leaveLocked counts a call out of the batch. When none is left waiting
// or reading and one gave up, what remains in the pipeline is only the
// statements of callers that have gone: they are cancelled in PostgreSQL
// (whichever went last, the one giving up or the one served). s.mu is
// held.
func (b *sharedBatch) leaveLocked() {
	b.live--
	if b.live == 0 && b.gone {
		b.cancel()
	}
}

// describe is what a statement takes and returns, learned once (the
// schema is the same on every connection) and kept with the name shared
// reads prepare it under on each connection.
func (s *sharedReads) describe(ctx context.Context, conn *pgx.Conn, sql string) (*pgconn.StatementDescription, error) {
	if sd, ok := s.described.Load(sql); ok {
		return sd.(*pgconn.StatementDescription), nil
	}
	digest := sha256.Sum256([]byte(sql))
	name := fmt.Sprintf("taskd_shared_%s_%d", hex.EncodeToString(digest[:12]), s.generation.Load())
	prepared := preparedOn(conn)
	sd, ok := prepared[name] // another server on the same pool prepared it
	if !ok {
		var err error
		if sd, err = conn.PgConn().Prepare(ctx, name, sql, nil); err != nil {
			return nil, err
		}
		prepared[name] = sd
	}
	s.described.Store(sql, sd)
	return sd, nil
}

// preparedOn is the shared-read statements prepared on conn, by name.
func preparedOn(conn *pgx.Conn) map[string]*pgconn.StatementDescription {
	data := conn.PgConn().CustomData()
	set, ok := data["taskd.shared"].(map[string]*pgconn.StatementDescription)
	if !ok {
		set = map[string]*pgconn.StatementDescription{}
		data["taskd.shared"] = set
	}
	return set
}

// run sends the batch as one pipeline and hands out its results in order.
func (s *sharedReads) run(conn *pgx.Conn, b *sharedBatch) {
	// Each call's arguments are encoded before anything is sent; a call
	// that fails here fails alone.
	type encoded struct {
		sd   *pgconn.StatementDescription
		args pgx.ExtendedQueryBuilder
	}
	sends := make([][]encoded, len(b.calls))
	for i, c := range b.calls {
		enc := make([]encoded, len(c.stmts))
		for j, st := range c.stmts {
			sd, err := s.describe(b.ctx, conn, st.sql)
			if err == nil {
				err = enc[j].args.Build(conn.TypeMap(), sd, st.args)
			}
			if err != nil {
				if conn.IsClosed() {
					s.fail(b, 0, err) // answered calls are left as they are
					return
				}
				s.deliver(c, nil, err)
				enc = nil
				break
			}
			enc[j].sd = sd
		}
		sends[i] = enc
	}

	s.pipelines.Add(1)
	pipeline := conn.PgConn().StartPipeline(b.ctx)
	var stale []*pgconn.StatementDescription
	defer func() {
		pipeline.Close()
		s.forget(b.ctx, conn, stale)
	}()
	// Statements new to this connection are prepared at the head of the
	// same pipeline, behind a Sync of their own: no extra round trip.
	prepared := preparedOn(conn)
	var preparing []*pgconn.StatementDescription
	for _, enc := range sends {
		for _, e := range enc {
			if prepared[e.sd.Name] == nil && !slices.ContainsFunc(preparing, func(p *pgconn.StatementDescription) bool { return p.Name == e.sd.Name }) {
				pipeline.SendPrepare(e.sd.Name, e.sd.SQL, e.sd.ParamOIDs)
				preparing = append(preparing, e.sd)
			}
		}
	}
	if len(preparing) > 0 {
		pipeline.SendPipelineSync()
	}
	for _, enc := range sends {
		if enc == nil {
			continue
		}
		for _, e := range enc {
			pipeline.SendQueryPrepared(e.sd.Name, e.args.ParamValues, e.args.ParamFormats, e.args.ResultFormats)
		}
		pipeline.SendPipelineSync()
	}
	sent := time.Now()
	// answered times the first answer, a round trip, as it comes (not
	// once its caller has read its rows).
	answered := func() {
		if !sent.IsZero() {
			s.observe(time.Since(sent))
			sent = time.Time{}
		}
	}
	if err := pipeline.Flush(); err != nil {
		s.fail(b, 0, err)
		return
	}
	if len(preparing) > 0 {
		if err := receivePrepares(conn.PgConn(), pipeline, preparing, prepared, &stale); err != nil {
			s.fail(b, 0, err)
			return
		}
		answered()
	}
	for i, c := range b.calls {
		if sends[i] == nil {
			continue
		}
		sds := make([]*pgconn.StatementDescription, len(sends[i]))
		for j, e := range sends[i] {
			sds[j] = e.sd
		}
		if err := s.receive(conn, pipeline, c, sds, &stale, answered); err != nil {
			s.fail(b, i+1, err) // the connection broke: no later result will come
			return
		}
	}
}

// forget drops descriptions that no longer hold (the schema changed under
// a running process: "cached plan must not change result type", or a
// connection prepared the statement anew and PostgreSQL described it
// otherwise), so that the next call describes it again under a new name
// (other connections hold the old one), as pgx's own cache does.
func (s *sharedReads) forget(ctx context.Context, conn *pgx.Conn, stale []*pgconn.StatementDescription) {
	for _, sd := range stale {
		s.generation.Add(1) // before: a describe racing this must not store the old name again
		s.described.CompareAndDelete(sd.SQL, sd)
		if conn.IsClosed() {
			continue
		}
		prepared := preparedOn(conn)
		if _, ok := prepared[sd.Name]; ok {
			delete(prepared, sd.Name)
			_ = conn.PgConn().Deallocate(ctx, sd.Name)
		}
	}
}

// sameShape says whether PostgreSQL describes a statement as it was
// described before: the same parameters and result columns.
func sameShape(a, b *pgconn.StatementDescription) bool {
	if !slices.Equal(a.ParamOIDs, b.ParamOIDs) || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || a.Fields[i].DataTypeOID != b.Fields[i].DataTypeOID {
			return false
		}
	}
	return true
}

// receivePrepares reads the pipeline's leading prepares through their
// Sync. A prepare that fails (none should: each prepared once before)
// fails the calls that use it, with "prepared statement does not exist".
func receivePrepares(conn *pgconn.PgConn, pipeline *pgconn.Pipeline, sds []*pgconn.StatementDescription, prepared map[string]*pgconn.StatementDescription, stale *[]*pgconn.StatementDescription) error {
	for _, sd := range sds {
		res, err := pipeline.GetResults()
		if err != nil {
			if !statementError(conn, err) {
				return err
			}
			break // PostgreSQL skips to the Sync
		}
		got, ok := res.(*pgconn.StatementDescription)
		if !ok {
			return errors.New("shared read: unexpected pipeline result")
		}
		prepared[sd.Name] = sd
		if !sameShape(sd, got) {
			// The arguments were encoded for the old shape: the calls
			// fail this once, and the next describes it anew.
			*stale = append(*stale, sd)
		}
	}
	return untilSync(conn, pipeline, func(error) {})
}

// untilSync reads the pipeline up to its next Sync, handing statement
// errors met on the way to failed; an error is returned only when the
// connection broke.
func untilSync(conn *pgconn.PgConn, pipeline *pgconn.Pipeline, failed func(error)) error {
	for {
		res, err := pipeline.GetResults()
		switch {
		case statementError(conn, err):
			failed(err)
		case err != nil:
			return err
		case res == nil:
			return errors.New("shared read: pipeline ended early")
		default:
			if _, ok := res.(*pgconn.PipelineSync); ok {
				return nil
			}
		}
	}
}

// staleCodes are the errors of a statement whose prepared description
// no longer holds: its result changed (0A000), it is missing (26000), or
// its arguments were encoded for another shape (08P01).
var staleCodes = []string{"0A000", "26000", "08P01"}

// statementError says whether err is PostgreSQL's answer to a statement,
// after which it skips the rest of the call up to its Sync, rather than
// a connection that can carry no more (a FATAL error, such as the server
// shutting down, is PostgreSQL's too but closes the connection).
func statementError(conn *pgconn.PgConn, err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && !conn.IsClosed()
}

// receive reads one call's results through its Sync and answers the
// call (deliver answers a call once; later answers are dropped); an
// error is returned only when the connection can carry no more.
func (s *sharedReads) receive(conn *pgx.Conn, pipeline *pgconn.Pipeline, c *sharedCall, sds []*pgconn.StatementDescription, stale *[]*pgconn.StatementDescription, answered func()) error {
	// failed answers statement j's error; false: the connection broke.
	failed := func(j int, err error) bool {
		s.deliver(c, nil, err)
		if !statementError(conn.PgConn(), err) {
			return false
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && slices.Contains(staleCodes, pgErr.Code) {
			*stale = append(*stale, sds[j])
		}
		return true // PostgreSQL skips the rest of the call
	}
statements:
	for j := range c.stmts {
		res, err := pipeline.GetResults()
		answered()
		if err != nil {
			if !failed(j, err) {
				return err
			}
			break
		}
		switch res := res.(type) {
		case *pgconn.PipelineSync:
			// An earlier statement of the call failed as its rows were
			// read (a division by zero in row 3, a statement timeout):
			// PostgreSQL skipped the rest, up to this Sync.
			s.deliver(c, nil, errors.New("shared read: no result"))
			return nil
		case *pgconn.ResultReader:
			if j != c.main {
				if _, err := res.Close(); err != nil {
					if !failed(j, err) {
						return err
					}
					break statements
				}
				continue
			}
			rows := pgx.RowsFromResultReader(conn.TypeMap(), res)
			if s.tracer == nil {
				s.deliver(c, rows, nil)
			} else {
				// Traced as pgx traces a statement of its own, so that a
				// tracer sees one statement per call however it travelled.
				ctx := s.tracer.TraceQueryStart(c.ctx, conn, pgx.TraceQueryStartData{SQL: c.stmts[j].sql, Args: c.stmts[j].args})
				s.deliver(c, rows, nil)
				s.tracer.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: rows.CommandTag(), Err: rows.Err()})
			}
			if conn.IsClosed() {
				// The caller's rows ended with why (a FATAL error:
				// the server shutting down); the calls after it fail
				// with the same reason.
				if err := rows.Err(); err != nil {
					return err
				}
				return fmt.Errorf("shared read: %w", pgconn.ErrConnClosed)
			}
		default:
			err := errors.New("shared read: unexpected pipeline result")
			s.deliver(c, nil, err)
			return err
		}
	}
	if err := untilSync(conn.PgConn(), pipeline, func(err error) { s.deliver(c, nil, err) }); err != nil {
		s.deliver(c, nil, err)
		return err
	}
	s.deliver(c, nil, errors.New("shared read: no result")) // when nothing answered it
	return nil
}
