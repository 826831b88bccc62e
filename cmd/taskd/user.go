package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"taskd/api"
	"taskd/db"
)

// userCmd creates users from the command line, which works whether or not
// open sign-up is switched on.
func userCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("taskd user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d database
	d.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: taskd user create NAME [flags]\n\nCreates a user and prints its bearer token (shown only once).\n\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "create" {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: expected `taskd user create NAME`", errUsage)
	}
	rest, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: expected exactly one NAME", errUsage)
	}
	pool, done, err := d.open(ctx, stderr)
	defer done()
	if err != nil {
		return err
	}
	var user api.User
	var token string
	err = db.InTx(ctx, &db.Pool{Pool: pool}, 0, func(q *db.Queries) (err error) {
		user, token, err = api.CreateUser(ctx, q, rest[0])
		return err
	})
	if err != nil {
		return fmt.Errorf("creating user %q: %s", rest[0], api.Explain(err))
	}
	fmt.Fprintf(stderr, "created user %q (id %d); its token:\n", user.Name, user.ID)
	fmt.Fprintln(stdout, token)
	return nil
}
