// Package testdb gives each test its own real, migrated PostgreSQL
// database. A package's TestMain calls Main once: it uses the server at
// TEST_DATABASE_URL, or starts a throwaway local cluster, migrates one
// template database, and each New clones the template (CREATE DATABASE …
// TEMPLATE, tens of milliseconds), so tests run in parallel without
// seeing each other's rows.
package testdb

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
	"taskd/internal/pglocal"
)

var (
	adminURL string // a database on the server to run CREATE DATABASE from
	template string // the migrated template's name
	counter  atomic.Int64
)

// Runner is what Main runs: a *testing.M, or one wrapped to check
// something once every test has run (its Run decides the exit code).
type Runner interface{ Run() int }

// Main prepares the server and template, runs the tests and cleans up.
func Main(m Runner) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testdb:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m Runner) (int, error) {
	ctx := context.Background()
	adminURL = os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		reapOrphans(ctx)
		base, err := os.MkdirTemp("", clusterPrefix)
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(base)
		if err := os.WriteFile(filepath.Join(base, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return 0, err
		}
		// The server runs as another OS user when we are root: it must be
		// able to enter base.
		if err := os.Chmod(base, 0o755); err != nil {
			return 0, err
		}
		cluster, err := pglocal.Start(ctx, base+"/data", pglocal.Options{Throwaway: true})
		if err != nil {
			return 0, err
		}
		defer cluster.Stop()
		adminURL = cluster.URL("postgres")
	}
	template = fmt.Sprintf("taskd_template_%d", os.Getpid())
	if err := createTemplate(ctx); err != nil {
		return 0, err
	}
	defer exec(context.Background(), "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
	return m.Run(), nil
}

const (
	clusterPrefix = "taskd-test-pg-"
	ownerFile     = "owner.pid"
)

// reapOrphans stops and removes the clusters of test processes that died
// without cleaning up (a killed run, or the fuzzing engine stopping its
// workers), so that they do not pile up on a machine.
func reapOrphans(ctx context.Context) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterPrefix+"*"))
	for _, base := range dirs {
		raw, err := os.ReadFile(filepath.Join(base, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(raw))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue // its owner is alive
		}
		_ = pglocal.StopDir(ctx, filepath.Join(base, "data"))
		_ = os.RemoveAll(base)
	}
}

func createTemplate(ctx context.Context) error {
	if err := exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)"); err != nil {
		return err
	}
	if err := exec(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	u, err := databaseURL(template)
	if err != nil {
		return err
	}
	if err := db.Migrator(u, io.Discard, "").Migrate(); err != nil {
		return fmt.Errorf("migrating the template: %w", err)
	}
	// No connections to the template from now on, or clones would fail.
	return exec(ctx, "ALTER DATABASE "+template+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
}

// URL is a connection URL for a fresh database cloned from the template,
// dropped when the test ends. Use it to start a real server process.
func URL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("taskd_test_%d_%d", os.Getpid(), counter.Add(1))
	if err := exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database: %v", err)
		}
	})
	u, err := databaseURL(name)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// New returns a pool on a fresh database cloned from the template.
// configure, when given, adjusts the pool's configuration first.
func New(t testing.TB, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := db.PoolConfig(URL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after URL's cleanup, so it runs first: close, then drop.
	t.Cleanup(pool.Close)
	return pool
}

func databaseURL(name string) (*url.URL, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	u.Path = "/" + name
	return u, nil
}

func exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
