package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
	"taskd/internal/pglocal"
)

// localDataDir is where the embedded default cluster lives.
const localDataDir = ".data/postgres"

// defaultMaxConns sizes the pool for a web server whose requests mostly
// wait on the database: more than pgxpool's default of max(4, cores), few
// enough to stay far below PostgreSQL's max_connections with replicas.
const defaultMaxConns = 32

// database holds the flags every database-using command shares.
type database struct {
	url       string
	directURL string
	pooler    string
	execMode  string
	maxConns  int
	cluster   *pglocal.Cluster
	// direct is DATABASE_DIRECT_URL's configuration once resolved; nil
	// when none is given.
	direct *pgxpool.Config
}

func (d *database) register(fs *flag.FlagSet) {
	fs.StringVar(&d.url, "database-url", os.Getenv("DATABASE_URL"),
		"PostgreSQL URL or key/value connection string, as psql takes it (env DATABASE_URL); empty: a local cluster under ./"+localDataDir+" started from the installed PostgreSQL binaries")
	fs.IntVar(&d.maxConns, "db-max-conns", envInt("DATABASE_MAX_CONNS", defaultMaxConns),
		"most open database connections (env DATABASE_MAX_CONNS)")
	fs.StringVar(&d.directURL, "database-direct-url", os.Getenv("DATABASE_DIRECT_URL"),
		"when DATABASE_URL goes through a transaction-pooling proxy (PgBouncer pool_mode=transaction), a URL of the same database without it: "+
			"LISTEN (token revocations, change streams, webhooks) and migrations use it (env DATABASE_DIRECT_URL); setting it implies --database-pooler=transaction")
	fs.StringVar(&d.pooler, "database-pooler", os.Getenv("DATABASE_POOLER"),
		"what DATABASE_URL goes through: none (PostgreSQL, or a session-pooling proxy) or transaction (a transaction-pooling proxy: no session state, "+
			"and without --database-direct-url no LISTEN, so revocations are checked on every request and streams and webhooks poll every second); "+
			"default: transaction when --database-direct-url is set, else none (env DATABASE_POOLER)")
	fs.StringVar(&d.execMode, "database-exec-mode", envOr("DATABASE_EXEC_MODE", "auto"),
		"how pgx sends statements: cache_statement (named prepared statements, cached per connection), cache_describe (unnamed statements, their descriptions cached: "+
			"no session state, for transaction pooling before PgBouncer 1.21 or without its max_prepared_statements), describe_exec, exec or simple_protocol; "+
			"auto: cache_describe under --database-pooler=transaction, else cache_statement, unless DATABASE_URL sets default_query_exec_mode (env DATABASE_EXEC_MODE)")
}

// execModes are the --database-exec-mode values, as pgx's connection
// string parameter default_query_exec_mode names them.
var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// transactionPooled says DATABASE_URL goes through a transaction-pooling
// proxy: nothing may rely on a session (prepared statements, LISTEN,
// session-level SET or advisory locks) over it.
func (d *database) transactionPooled() bool { return d.pooler == "transaction" }

// migrations is the configuration migrations connect with: the direct
// one when there is one.
func (d *database) migrations(cfg *pgxpool.Config) *pgxpool.Config {
	if d.direct != nil {
		return d.direct
	}
	return cfg
}

// settle checks the pooler and exec mode flags and applies the exec mode
// to cfg.
func (d *database) settle(cfg *pgxpool.Config) error {
	switch d.pooler {
	case "":
		d.pooler = "none"
		if d.directURL != "" {
			d.pooler = "transaction"
		}
	case "none", "session":
		d.pooler = "none"
	case "transaction":
	default:
		return fmt.Errorf("%w: --database-pooler must be none, session or transaction, got %q", errUsage, d.pooler)
	}
	mode := d.execMode
	if mode == "auto" || mode == "" {
		switch {
		case strings.Contains(d.url, "default_query_exec_mode"):
			return nil // the URL's choice, which pgx has applied
		case d.transactionPooled():
			mode = "cache_describe"
		default:
			mode = "cache_statement"
		}
	}
	m, ok := execModes[mode]
	if !ok {
		return fmt.Errorf("%w: --database-exec-mode must be auto, cache_statement, cache_describe, describe_exec, exec or simple_protocol, got %q", errUsage, d.execMode)
	}
	cfg.ConnConfig.DefaultQueryExecMode = m
	return nil
}

// resolve settles the database configuration, starting the local
// cluster (and its taskd database) when no URL is configured. DATABASE_URL
// is parsed here, once, by pgx, which reads it as libpq and psql do (a
// URL or a key/value string; no sslmode meaning "prefer": TLS when the
// server offers it, else plaintext); the pool and the migrations both
// connect with the result.
func (d *database) resolve(ctx context.Context, log io.Writer) (*pgxpool.Config, error) {
	if d.url == "" {
		fmt.Fprintf(log, "DATABASE_URL is not set: using the local PostgreSQL cluster in ./%s\n", localDataDir)
		c, err := pglocal.Start(ctx, localDataDir, pglocal.Options{})
		if err != nil {
			return nil, fmt.Errorf("starting the local PostgreSQL: %w", err)
		}
		d.cluster = c
		d.url = c.URL("taskd")
		if err := createDatabase(ctx, c.URL("postgres"), "taskd"); err != nil {
			return nil, err
		}
	}
	// pgx's parse errors quote the string with its password masked.
	cfg, err := db.PoolConfig(d.url, int32(d.maxConns))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL must look like postgres://user:password@host:5432/dbname or "+
			"'host=HOST port=5432 user=USER password=PASSWORD dbname=DBNAME', as psql takes it: %w", err)
	}
	if err := d.settle(cfg); err != nil {
		return nil, err
	}
	if d.directURL != "" {
		// Few connections: LISTEN holds two, migrations a few while they run.
		if d.direct, err = db.PoolConfig(d.directURL, 4); err != nil {
			return nil, fmt.Errorf("DATABASE_DIRECT_URL, like DATABASE_URL, must look like postgres://user:password@host:5432/dbname: %w", err)
		}
	}
	return cfg, nil
}

// describe names the server and database of cfg for messages: never the
// password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", c.Host, c.Port, c.User, c.Database)
}

// pool opens the connection pool and checks that the database answers.
func (d *database) pool(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach the database (%s): %w", describe(cfg), err)
	}
	return pool, nil
}

// open resolves the database, applies pending migrations and opens the
// pool: what every administrative command needs. done releases it all.
func (d *database) open(ctx context.Context, log io.Writer) (*pgxpool.Pool, func(), error) {
	cfg, err := d.resolve(ctx, log)
	if err != nil {
		return nil, d.close, err
	}
	if _, err := db.Migrate(ctx, d.migrations(cfg), io.Discard); err != nil {
		return nil, d.close, fmt.Errorf("applying migrations: %w", err)
	}
	pool, err := d.pool(ctx, cfg)
	if err != nil {
		return nil, d.close, err
	}
	return pool, func() { pool.Close(); d.close() }, nil
}

// close stops the local cluster if this process started it.
func (d *database) close() {
	if d.cluster != nil {
		_ = d.cluster.Stop()
	}
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
