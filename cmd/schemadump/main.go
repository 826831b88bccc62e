// Command schemadump writes db/schema.sql: it migrates a throwaway local
// PostgreSQL with the embedded migrations and has dbmate dump the result.
// `make generate` runs it; the dump is committed so that reviewers see the
// whole schema and `make verify` notices a migration changed without it.
package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"taskd/db"
	"taskd/internal/pglocal"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: schemadump OUTPUT.sql")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "schemadump:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	bin, err := pglocal.BinDir()
	if err != nil {
		return err
	}
	// dbmate runs pg_dump from PATH: use the one of the server we start.
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	base, err := os.MkdirTemp("", "taskd-schemadump-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil {
		return err
	}
	cluster, err := pglocal.Start(context.Background(), filepath.Join(base, "data"), pglocal.Options{Throwaway: true})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	u, err := url.Parse(cluster.URL("taskd"))
	if err != nil {
		return err
	}
	return db.Migrator(u, io.Discard, out).CreateAndMigrate()
}
