// Command withdb runs a command against a throwaway PostgreSQL migrated
// with db/migrations: it starts a local cluster (internal/pglocal) in a
// temporary directory, creates and migrates the database taskd, puts its
// URL, password included, in the environment variable named by -env, runs
// the command, then stops the cluster and deletes it, and exits with the
// command's status. `make sqlc-vet` runs sqlc vet under it, so that
// sqlc.yaml's rules prepare and explain every query against the real
// schema.
//
// Without a command it prints the URL and keeps the database until
// interrupted, for a look with psql.
//
//	go run ./cmd/withdb -env SQLC_DATABASE_URL -- go tool sqlc vet
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"taskd/db"
	"taskd/internal/pglocal"
)

func main() {
	env := flag.String("env", "DATABASE_URL", "environment variable that gets the database's URL")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: withdb [-env NAME] [--] [command [arg...]]")
		flag.PrintDefaults()
	}
	flag.Parse()
	code, err := run(*env, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "withdb:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run answers the command's exit status, or an error of its own.
func run(env string, args []string) (code int, err error) {
	// Ctrl-C reaches the command too (same process group); withdb only
	// waits for it to end, and then cleans up. The server runs in a
	// process group of its own and is stopped below.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	base, err := os.MkdirTemp("", "taskd-withdb-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(base)
	// The server runs as the postgres OS user when we are root: it must
	// reach its data directory inside.
	if err := os.Chmod(base, 0o755); err != nil {
		return 0, err
	}
	cluster, err := pglocal.Start(context.Background(), filepath.Join(base, "data"), pglocal.Options{Throwaway: true})
	if err != nil {
		return 0, err
	}
	defer func() {
		if serr := cluster.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	dbURL := cluster.URL("taskd")
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, err
	}
	if err := db.Migrator(u, io.Discard, "").CreateAndMigrate(); err != nil {
		return 0, fmt.Errorf("migrating: %w", err)
	}

	if len(args) == 0 {
		fmt.Printf("%s=%s\n", env, dbURL)
		fmt.Fprintln(os.Stderr, "withdb: the database lives until interrupted (Ctrl-C)")
		<-signals
		return 0, nil
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env+"="+dbURL)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-signals:
			// Ctrl-C's SIGINT reached the command already; a SIGTERM is
			// usually sent to withdb alone: pass it on. Either way, clean
			// up once the command has ended.
			if sig == syscall.SIGTERM {
				_ = cmd.Process.Signal(sig)
			}
		case err := <-done:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if exit.ExitCode() < 0 { // killed by a signal
					return 1, fmt.Errorf("%s: %w", args[0], err)
				}
				return exit.ExitCode(), nil
			}
			return 0, err
		}
	}
}
