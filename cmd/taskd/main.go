// Command taskd serves the task API and administers its database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"taskd/api"
)

// version is set at build time (make build: -ldflags -X main.version=...).
var version = "dev"

const usage = `taskd: a multi-user task manager REST API.

Usage:
  taskd serve [flags]          serve the API (see taskd serve --help)
  taskd migrate [up|down|status] [flags]
                               apply, roll back one, or list migrations
  taskd user create NAME       create a user and print its token
  taskd token create USER      issue another token for a user and print it
  taskd token revoke TOKEN_ID  revoke a token at once
  taskd obsidian sync --vault DIR
                               sync an Obsidian vault with the API
  taskd openapi [--3.0]        print the OpenAPI document as YAML (3.1, or 3.0)
  taskd version                print the version

Each command takes --help.

Every command that needs the database reads DATABASE_URL (or
--database-url). Without it, taskd starts (or reuses) a local PostgreSQL
cluster under ./.data/postgres from the installed PostgreSQL binaries.
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "taskd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks a command line taskd cannot make sense of.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "user":
		return userCmd(ctx, rest, stdout, stderr)
	case "token":
		return tokenCmd(ctx, rest, stdout, stderr)
	case "obsidian":
		return obsidianCmd(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "taskd", version, "(API", api.Version+")")
		return nil
	case "openapi":
		return printOpenAPI(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, strings.Join(args[:1], ""))
	}
}

// parseArgs parses flags wherever they stand among the arguments (the
// flag package stops at the first non-flag) and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
