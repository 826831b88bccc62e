package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"taskd/db"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("taskd migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d database
	d.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: taskd migrate [up|down|status] [flags]\n\n"+
			"  up      apply every pending migration (the default)\n"+
			"  down    roll back the most recent migration\n"+
			"  status  list migrations and whether each is applied\n\n")
		fs.PrintDefaults()
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	action := "up"
	if len(rest) > 0 {
		action = rest[0]
	}
	u, err := d.resolve(ctx, stderr)
	defer d.close()
	if err != nil {
		return err
	}
	// Over DATABASE_DIRECT_URL when given: migrations need no pooler.
	u = d.migrations(u)
	m := db.Migrator(u, stdout, "")
	switch action {
	case "up":
		// Under the lock that replicas starting at once take too.
		_, err := db.Migrate(ctx, u, stdout)
		return err
	case "down":
		return m.Rollback()
	case "status":
		_, err := m.Status(false)
		return err
	default:
		fs.Usage()
		return fmt.Errorf("%w: unknown migrate action %q", errUsage, action)
	}
}
