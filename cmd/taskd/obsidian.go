package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"taskd/internal/vaultsync"
)

const obsidianUsage = `Usage: taskd obsidian sync --vault DIR [--server URL] [--token TOKEN] [--dry-run] [--prefer server|vault]

Syncs an Obsidian vault of Tasks-plugin notes with taskd through its API:
each note is a project named by its path without .md, each task line a
task (^taskd-<id>). The last synced state is kept under DIR/.taskd/.
--server and --token default to TASKD_URL and TASKD_TOKEN.
`

// obsidianCmd is `taskd obsidian sync`.
func obsidianCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "sync" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, obsidianUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(stderr, obsidianUsage)
		return fmt.Errorf("%w: taskd obsidian sync is the only obsidian command", errUsage)
	}
	fs := flag.NewFlagSet("obsidian sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, obsidianUsage); fs.PrintDefaults() }
	vault := fs.String("vault", "", "the vault's directory")
	server := fs.String("server", os.Getenv("TASKD_URL"), "the API's base URL (TASKD_URL)")
	token := fs.String("token", os.Getenv("TASKD_TOKEN"), "a bearer token (TASKD_TOKEN)")
	dry := fs.Bool("dry-run", false, "print what would be done, change nothing")
	prefer := fs.String("prefer", "server", "which side wins a conflict: server or vault")
	// The contract gives the sync two exit codes: 0, or 1 when it could
	// not finish. A command line it cannot run is the latter, not the 2
	// that other commands answer for one.
	rest, err := parseArgs(fs, args[1:])
	if err != nil {
		return err // flag.ErrHelp for --help, which exits 0
	}
	if len(rest) > 0 || *vault == "" || *server == "" || *token == "" {
		fs.Usage()
		return errors.New("--vault, a server (--server or TASKD_URL) and a token (--token or TASKD_TOKEN) are needed")
	}
	failAfter, _ := strconv.Atoi(os.Getenv("TASKD_SYNC_FAIL_AFTER"))
	return vaultsync.Run(ctx, vaultsync.Options{
		Vault: *vault, Server: *server, Token: *token,
		DryRun: *dry, Prefer: *prefer, Out: stdout, FailAfter: failAfter,
	})
}
