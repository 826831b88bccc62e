// Package db is taskd's SQL: the queries of sql/*.sql compiled by sqlc
// into typed functions (the *.sql.go files), the migrations they run
// against (embedded, applied by Migrator), and the hand-written rest of
// the database layer: the unit of work (tx.go) and the pool (pool.go).
package db

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	"github.com/amacneil/dbmate/v2/pkg/dbutil"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrations is embedded so the binary can migrate its database without
// the source tree beside it.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrator returns dbmate configured with the embedded migrations. log
// receives dbmate's progress lines; schemaFile, when not empty, is where
// dbmate dumps the schema after migrating (used by `make generate`).
//
// database is the pool's configuration (see PoolConfig), or a URL that
// PoolConfig parses. Either way the migrations connect through pgx with
// the very settings the queries use: dbmate's own PostgreSQL driver reads
// the URL with lib/pq, which differs from pgx and libpq (key/value
// strings refused, no sslmode meaning "require" where libpq means
// "prefer"), so a DATABASE_URL that psql and the pool accept could fail
// only the migrations.
func Migrator[D *pgxpool.Config | *url.URL](database D, log io.Writer, schemaFile string) *dbmate.DB {
	var t target
	switch d := any(database).(type) {
	case *pgxpool.Config:
		t.conn = d.ConnConfig.Copy()
	case *url.URL:
		cfg, err := PoolConfig(d.String(), 0)
		if err != nil {
			t.err = fmt.Errorf("database URL: %w", err)
		} else {
			t.conn = cfg.ConnConfig
		}
	}
	// dbmate hands a driver nothing but the URL of its DB: the URL names
	// the target, which lives as long as the DB does.
	id := strconv.FormatUint(targetSeq.Add(1), 10)
	targets.Store(id, t)
	m := dbmate.New(&url.URL{Scheme: driverName, Opaque: id})
	runtime.AddCleanup(m, func(id string) { targets.Delete(id) }, id)
	m.FS = migrations
	m.MigrationsDir = []string{"migrations"}
	m.Log = log
	m.AutoDumpSchema = schemaFile != ""
	m.SchemaFile = schemaFile
	return m
}

// driverName is the URL scheme of Migrator's DBs, under which pgxDriver
// is registered with dbmate.
const driverName = "taskd-pgx"

func init() { dbmate.RegisterDriver(newPgxDriver, driverName) }

var (
	targets   sync.Map // Migrator's id → target
	targetSeq atomic.Uint64
)

// target is where a Migrator's connections go, or why they cannot.
type target struct {
	conn *pgx.ConnConfig
	err  error
}

// pgxDriver is dbmate's PostgreSQL driver over pgx: the same statements,
// the same migrations table and schema dump, with connections made from a
// pgx configuration.
type pgxDriver struct {
	target
	table string // the migrations table: name, or schema.name
	log   io.Writer
}

func newPgxDriver(c dbmate.DriverConfig) dbmate.Driver {
	d := &pgxDriver{table: c.MigrationsTableName, log: c.Log}
	if t, ok := targets.Load(c.DatabaseURL.Opaque); ok {
		d.target = t.(target)
	} else {
		d.err = fmt.Errorf("%s: not a database of db.Migrator", c.DatabaseURL)
	}
	return d
}

// Open creates a database/sql handle on the target database.
func (d *pgxDriver) Open() (*sql.DB, error) {
	if d.err != nil {
		return nil, d.err
	}
	return stdlib.OpenDB(*d.conn), nil
}

// connect opens one connection to database on the target's server.
func (d *pgxDriver) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	if d.err != nil {
		return nil, d.err
	}
	c := d.conn.Copy()
	c.Database = database
	return pgx.ConnectConfig(ctx, c)
}

// DatabaseExists determines whether the target database exists.
func (d *pgxDriver) DatabaseExists() (bool, error) {
	ctx := context.Background()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	err = conn.QueryRow(ctx, "select exists (select from pg_database where datname = $1)", d.conn.Database).Scan(&exists)
	return exists, err
}

// CreateDatabase creates the target database.
func (d *pgxDriver) CreateDatabase() error {
	return d.admin("Creating", "create database ")
}

// DropDatabase drops the target database if it exists.
func (d *pgxDriver) DropDatabase() error {
	return d.admin("Dropping", "drop database if exists ")
}

func (d *pgxDriver) admin(verb, stmt string) error {
	if d.err != nil {
		return d.err
	}
	fmt.Fprintf(d.log, "%s: %s\n", verb, d.conn.Database)
	ctx := context.Background()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt+pgx.Identifier{d.conn.Database}.Sanitize())
	return err
}

// Ping checks that the server answers; a missing database is no failure.
func (d *pgxDriver) Ping() error {
	if d.err != nil {
		return d.err
	}
	ctx := context.Background()
	conn, err := d.connect(ctx, d.conn.Database)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
			return nil
		}
		return err
	}
	return conn.Close(ctx)
}

// migrationsTable is the migrations table's schema and name, bare, and
// its name quoted for SQL. The schema is the one named in the table
// name, else the connection's current schema.
func (d *pgxDriver) migrationsTable(q dbutil.Transaction) (schema, name, quoted string, err error) {
	schema, name, ok := strings.Cut(d.table, ".")
	if !ok {
		schema, name = "", d.table
	}
	if schema == "" {
		if schema, err = dbutil.QueryValue(q, "select current_schema()"); err != nil {
			return "", "", "", err
		}
	}
	if schema == "" {
		schema = "public"
	}
	// The server quotes only where it must, as pg_dump does: the schema
	// dump stays as dbmate writes it.
	err = q.QueryRow("select quote_ident($1) || '.' || quote_ident($2)", schema, name).Scan(&quoted)
	return schema, name, quoted, err
}

// MigrationsTableExists checks whether the migrations table exists.
func (d *pgxDriver) MigrationsTableExists(db *sql.DB) (bool, error) {
	schema, name, _, err := d.migrationsTable(db)
	if err != nil {
		return false, err
	}
	var exists bool
	err = db.QueryRow("select exists (select from information_schema.tables where table_schema = $1 and table_name = $2)",
		schema, name).Scan(&exists)
	return exists, err
}

// CreateMigrationsTable creates the migrations table, and its schema when
// that is missing.
func (d *pgxDriver) CreateMigrationsTable(db *sql.DB) error {
	schema, _, table, err := d.migrationsTable(db)
	if err != nil {
		return err
	}
	create := "create table if not exists " + table + " (version varchar primary key)"
	_, err = db.Exec(create)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3F000" { // invalid_schema_name
		return err
	}
	fmt.Fprintf(d.log, "Creating schema: %s\n", schema)
	if _, err := db.Exec("create schema if not exists " + pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	_, err = db.Exec(create)
	return err
}

// SelectMigrations lists the applied migrations, newest first, at most
// limit of them unless limit is negative.
func (d *pgxDriver) SelectMigrations(db *sql.DB, limit int) (map[string]bool, error) {
	_, _, table, err := d.migrationsTable(db)
	if err != nil {
		return nil, err
	}
	query := "select version from " + table + " order by version desc"
	if limit >= 0 {
		query += " limit " + strconv.Itoa(limit)
	}
	versions, err := dbutil.QueryColumn(db, query)
	if err != nil {
		return nil, err
	}
	applied := make(map[string]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

// InsertMigration records a migration as applied.
func (d *pgxDriver) InsertMigration(tx dbutil.Transaction, version string) error {
	_, _, table, err := d.migrationsTable(tx)
	if err != nil {
		return err
	}
	_, err = tx.Exec("insert into "+table+" (version) values ($1)", version)
	return err
}

// DeleteMigration records a migration as rolled back.
func (d *pgxDriver) DeleteMigration(tx dbutil.Transaction, version string) error {
	_, _, table, err := d.migrationsTable(tx)
	if err != nil {
		return err
	}
	_, err = tx.Exec("delete from "+table+" where version = $1", version)
	return err
}

// QueryError points at the failing spot of a migration.
func (d *pgxDriver) QueryError(query string, err error) error {
	var pgErr *pgconn.PgError
	position := 0
	if errors.As(err, &pgErr) {
		position = int(pgErr.Position)
	}
	return &dbmate.QueryError{Err: err, Query: query, Position: position}
}

// DumpSchema returns the schema as pg_dump writes it, followed by the
// applied migrations: what dbmate's PostgreSQL driver writes. pg_dump is
// libpq, so it reads the connection string as psql does.
func (d *pgxDriver) DumpSchema(db *sql.DB, extraArgs ...string) ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	args := []string{"--format=plain", "--encoding=UTF8", "--schema-only", "--no-privileges", "--no-owner"}
	if pgDumpHasRestrictKey() {
		// A fixed key, or every dump would differ (dbmate does the same).
		args = append(args, "--restrict-key=dbmate")
	}
	args = append(args, extraArgs...)
	args = append(args, "--dbname="+d.conn.ConnString())
	schema, err := dbutil.RunCommand("pg_dump", args...)
	if err != nil {
		return nil, err
	}

	_, _, table, err := d.migrationsTable(db)
	if err != nil {
		return nil, err
	}
	versions, err := dbutil.QueryColumn(db, "select quote_literal(version) from "+table+" order by version asc")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(schema)
	buf.WriteString("\n--\n-- Dbmate schema migrations\n--\n\n")
	if len(versions) > 0 {
		buf.WriteString("INSERT INTO " + table + " (version) VALUES\n    (" + strings.Join(versions, "),\n    (") + ");\n")
	}
	return dbutil.TrimLeadingSQLComments(buf.Bytes())
}

var pgDumpVersion = regexp.MustCompile(`\(PostgreSQL\) (\d+)\.(\d+)`)

// pgDumpHasRestrictKey reports whether pg_dump takes --restrict-key:
// PostgreSQL 15.14, 16.10, 17.6 and later.
func pgDumpHasRestrictKey() bool {
	out, err := exec.Command("pg_dump", "--version").Output()
	if err != nil {
		return false
	}
	m := pgDumpVersion.FindSubmatch(out)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	return major > 17 || (major == 17 && minor >= 6) || (major == 16 && minor >= 10) || (major == 15 && minor >= 14)
}
