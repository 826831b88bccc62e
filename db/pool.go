package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaTypes are the schema's types pgx must know: the enums and their
// arrays, to send a []TaskStatus as task_status[]; and task_rows, the
// view's row type, to scan a task answered as one value (ChangesPage)
// into a db.TaskRow, field by field in the view's column order.
var schemaTypes = append(enumTypes[:len(enumTypes):len(enumTypes)], "task_rows")

// enumTypes are the enums and their arrays alone.
var enumTypes = []string{"task_status", "_task_status", "task_priority", "_task_priority"}

// taskRowFields is how many of task_rows' columns this build knows.
var taskRowFields = reflect.TypeFor[TaskRow]().NumField()

// CustomPlans runs a query with plan_cache_mode forced to custom plans,
// in the same round trip: SET, the query and RESET travel as one
// pipelined batch (one implicit transaction, so an error undoes the SET
// too). The task list needs it: its optional filters are written
// "@x IS NULL OR …", which a cached generic plan cannot drop (it would
// miss the indexes), while a plan made with the values prunes the absent
// ones. Every other statement keeps PostgreSQL's cached plans.
func CustomPlans(pool *Pool) DBTX { return customPlans{pool} }

type customPlans struct{ *Pool }

func (c customPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !c.shared.goAlone() {
		return c.shared.query(ctx, []sharedStmt{{sql: "SET plan_cache_mode = force_custom_plan"}, {sql: sql, args: args}, {sql: "RESET plan_cache_mode"}}, 1)
	}
	b := &pgx.Batch{}
	b.Queue("SET plan_cache_mode = force_custom_plan")
	b.Queue(sql, args...)
	b.Queue("RESET plan_cache_mode")
	br := c.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &closingRows{Rows: rows, onClose: func() { _ = br.Close() }}, nil
}

// PoolConfig is the one place connections are configured, for the server
// and the tests alike.
func PoolConfig(databaseURL string, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		types, err := conn.LoadTypes(ctx, schemaTypes)
		if err != nil {
			// task_rows may have a column of a type pgx cannot load (one a
			// later migration added, an extension's): this build reads only
			// the columns it knows, whose types it can.
			if types, err = conn.LoadTypes(ctx, enumTypes); err != nil {
				return fmt.Errorf("loading the schema's types (is the database migrated?): %w", err)
			}
			conn.TypeMap().RegisterTypes(types)
			return registerTaskRows(ctx, conn)
		}
		for _, t := range types {
			// A process reads the columns it was built with: a migration
			// that adds one to the view (always at its end) must not break
			// the feed of processes still running the code before it.
			if cc, ok := t.Codec.(*pgtype.CompositeCodec); ok && (t.Name == "task_rows" || t.Name == "public.task_rows") {
				cc.Fields = cc.Fields[:min(len(cc.Fields), taskRowFields)]
			}
		}
		conn.TypeMap().RegisterTypes(types)
		return nil
	}
	return cfg, nil
}

// ErrPoolBusy says that no pooled connection came free within the
// acquire timeout: the server is saturated, and the request should be
// shed (503 with Retry-After) rather than queue until its deadline.
var ErrPoolBusy = errors.New("no database connection free in time")

// Pool is the connection pool with a bound on the wait for a connection.
// Waiting the whole request deadline for a connection only makes a
// saturated server slower for everyone; a short bound sheds the excess
// at once, and the client's retry lands when there is room.
type Pool struct {
	*pgxpool.Pool
	// AcquireTimeout bounds the wait for a free connection; 0: no bound
	// but the caller's context.
	AcquireTimeout time.Duration

	shared *sharedReads // nil: every statement takes a connection of its own

	writers writeGate // InTx's reruns, one user at a time
}

// ShareReads says when statements outside transactions that arrive
// together share connections (see sharedReads), where the exec mode
// allows it.
type ShareReads int

const (
	// ShareWhenFar, the default: while the database is far (the lowest
	// of the last sharedPings pings' round trips sharedNearFloor or more)
	// or before any ping is back.
	ShareWhenFar ShareReads = iota
	// ShareNever: every statement takes a connection of its own.
	ShareNever
	// ShareAlways: whatever the round trip, so that tests of the shared
	// path do not depend on how near their database answers.
	ShareAlways
)

// NewPool wraps pool, its reads sharing connections as share says.
func NewPool(pool *pgxpool.Pool, acquireTimeout time.Duration, share ShareReads) *Pool {
	p := &Pool{Pool: pool, AcquireTimeout: acquireTimeout}
	if share != ShareNever && sharable(pool) {
		p.shared = newSharedReads(p, share == ShareAlways)
	}
	return p
}

// Acquire takes a connection, waiting at most AcquireTimeout.
func (p *Pool) Acquire(ctx context.Context) (conn *pgxpool.Conn, err error) {
	err = p.waitBounded(ctx, func(ctx context.Context) (err error) {
		conn, err = p.Pool.Acquire(ctx)
		return err
	})
	return conn, err
}

// waitBounded runs wait, which gives up when its context ends, with at
// most AcquireTimeout to succeed: past it the server is saturated and the
// request is shed (ErrPoolBusy) rather than queued until its deadline.
func (p *Pool) waitBounded(ctx context.Context, wait func(context.Context) error) error {
	if p.AcquireTimeout <= 0 {
		return wait(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, p.AcquireTimeout)
	defer cancel()
	err := wait(wctx)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return ErrPoolBusy
	}
	return err
}

func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	return conn.Exec(ctx, sql, args...)
}

// Query runs a statement outside a transaction, on a connection of its
// own or, with the database far (or ShareAlways), sharing one (see
// sharedReads).
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !p.shared.goAlone() {
		return p.shared.query(ctx, []sharedStmt{{sql: sql, args: args}}, 0)
	}
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return &closingRows{Rows: rows, onClose: conn.Release}, nil
}

func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return &lazyRow{rows: rows, err: err}
}

func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &releasingBatch{BatchResults: conn.SendBatch(ctx, b), conn: conn}
}

type releasingBatch struct {
	pgx.BatchResults
	conn *pgxpool.Conn
}

func (b *releasingBatch) Close() error {
	err := b.BatchResults.Close()
	if b.conn != nil {
		b.conn.Release()
		b.conn = nil
	}
	return err
}

// errBatch is the batch of a connection that could not be had.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return &lazyRow{err: b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// registerTaskRows registers task_rows' first taskRowFields columns, those
// this build knows, from the catalog: for when the view has a later
// column of a type pgx cannot load.
func registerTaskRows(ctx context.Context, conn *pgx.Conn) error {
	var oid uint32
	var columns []string
	var columnTypes []uint32
	err := conn.QueryRow(ctx, `
		SELECT 'task_rows'::regtype::oid, array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid ORDER BY a.attnum)
		FROM pg_attribute a
		WHERE a.attrelid = 'task_rows'::regclass AND a.attnum BETWEEN 1 AND $1 AND NOT a.attisdropped`,
		taskRowFields).Scan(&oid, &columns, &columnTypes)
	if err != nil {
		return fmt.Errorf("loading the columns of task_rows: %w", err)
	}
	m := conn.TypeMap()
	fields := make([]pgtype.CompositeCodecField, len(columns))
	for i, name := range columns {
		t, ok := m.TypeForOID(columnTypes[i])
		if !ok {
			return fmt.Errorf("task_rows' column %s has a type (OID %d) this build does not know", name, columnTypes[i])
		}
		fields[i] = pgtype.CompositeCodecField{Name: name, Type: t}
	}
	m.RegisterType(&pgtype.Type{Name: "task_rows", OID: oid, Codec: &pgtype.CompositeCodec{Fields: fields}})
	return nil
}
