package db

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the advisory lock that Migrate holds while it
// migrates: any bigint no other application on the database uses.
const migrationLockKey int64 = 0x7461736b64_4d47 // "taskd" "MG"

// Migration is what Migrate did.
type Migration struct {
	Applied []string      // the migrations applied, by file name; none when the schema was up to date
	Waited  time.Duration // how long another process held the lock
}

// Migrate creates the database when it is missing and applies the
// pending migrations, one process at a time: several replicas starting
// at once on an empty database migrate it once, and the others wait and
// then find nothing to do. log receives dbmate's progress lines.
//
// The lock is a transaction-scoped advisory lock (pg_advisory_xact_lock)
// taken by a transaction kept open on a connection of its own while dbmate
// migrates over others. A session-level lock would do as well on a direct
// connection, but not through a transaction-pooling proxy such as
// PgBouncer: the lock would stay with whichever server connection ran
// pg_advisory_lock, which the proxy then hands to other clients (who
// would "get" it again at once), and the unlock would run on another.
// An open transaction keeps its server connection to itself, so the lock
// works both ways; it ends (and frees the lock) with the connection if
// this process dies. Migrating through such a proxy works too, but give
// taskd a direct URL for it (serve's --database-direct-url) if you can.
//
// The transaction holding the lock takes no transaction id (it writes
// nothing), so it does not hold back the change log's horizon.
func Migrate(ctx context.Context, database *pgxpool.Config, log io.Writer) (Migration, error) {
	conn := database.ConnConfig.Copy()
	var res Migration
	if err := ensureDatabase(ctx, conn, log); err != nil {
		return res, fmt.Errorf("creating the database: %w", err)
	}

	lockCfg := conn.Copy()
	// Plain statements without parameters: nothing prepared, so nothing
	// that a pooling proxy could lose.
	lockCfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	lock, err := pgx.ConnectConfig(ctx, lockCfg)
	if err != nil {
		return res, err
	}
	defer closeWithin(lock, time.Second)
	start := time.Now()
	if _, err := lock.Exec(ctx, "BEGIN"); err != nil {
		return res, err
	}
	if _, err := lock.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey)); err != nil {
		return res, fmt.Errorf("waiting for the migration lock: %w", err)
	}
	res.Waited = time.Since(start)

	var out lines
	m := Migrator(database, io.MultiWriter(log, &out), "")
	err = m.Migrate()
	res.Applied = out.applied()
	// The lock goes with the transaction; the connection is closed anyway.
	_, _ = lock.Exec(context.WithoutCancel(ctx), "COMMIT")
	return res, err
}

// ensureDatabase creates the target database when it does not exist. Two
// processes may both find it missing: the second CREATE DATABASE fails
// with duplicate_database, or, when both ran at the same moment, with a
// unique violation on pg_database's name index; either is success here. A role that cannot
// look (no access to the postgres database) is assumed to have one.
func ensureDatabase(ctx context.Context, conn *pgx.ConnConfig, log io.Writer) error {
	d := &pgxDriver{target: target{conn: conn}, log: log}
	exists, err := d.DatabaseExists()
	if err != nil || exists {
		return nil
	}
	err = d.CreateDatabase()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || // duplicate_database
		pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index") {
		return nil
	}
	return err
}

// closeWithin closes conn, giving up after d: a Terminate into a dead
// connection must not hang.
func closeWithin(conn *pgx.Conn, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = conn.Close(ctx)
}

// lines collects dbmate's "Applying: <file>" lines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) applied() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "Applying: "); ok {
			out = append(out, name)
		}
	}
	return out
}
