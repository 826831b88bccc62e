package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"

	"taskd/api"
	"taskd/db"
)

// tokenCmd lets an administrator issue and revoke tokens for any user,
// for instance to recover an account whose tokens were all lost.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("taskd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d database
	d.register(fs)
	name := fs.String("name", "cli", "what the new token is for (token create)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage:\n"+
			"  taskd token create USER [--name NAME]   issue a token for USER and print its secret (shown once)\n"+
			"  taskd token revoke TOKEN_ID             revoke a token at once\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: expected `taskd token create USER` or `taskd token revoke TOKEN_ID`", errUsage)
	}
	action := args[0]
	rest, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: expected exactly one argument after `token %s`", errUsage, action)
	}
	pool, done, err := d.open(ctx, stderr)
	defer done()
	if err != nil {
		return err
	}
	q := db.New(pool)
	switch action {
	case "create":
		user, err := q.UserByName(ctx, rest[0])
		if err != nil {
			return fmt.Errorf("no user %q", rest[0])
		}
		secret, hash := api.NewToken()
		// An administrator's token is not held to the API's token quota.
		tok, err := q.TokenCreate(ctx, db.TokenCreateParams{UserID: user.ID, Name: *name, SecretHash: hash, Quota: math.MaxInt64})
		if err != nil {
			return fmt.Errorf("creating the token: %s", api.Explain(err))
		}
		fmt.Fprintf(stderr, "created token %d (%q) for user %q; its secret:\n", tok.ID, tok.Name, user.Name)
		fmt.Fprintln(stdout, secret)
	case "revoke":
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: TOKEN_ID must be a number, got %q", errUsage, rest[0])
		}
		n, err := q.TokenRevoke(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no token %d", id)
		}
		fmt.Fprintf(stderr, "revoked token %d\n", id)
	}
	return nil
}
