// Command taskbench measures taskd under load: it starts a fresh local
// PostgreSQL and a real `taskd serve` in front of it, seeds a user with
// 10 projects, 50 tags and 10 000 tasks, runs each scenario for a fixed
// time at a fixed concurrency, and prints requests/s, latency, errors,
// SQL round trips and CPU time per request for taskd and for PostgreSQL.
// pgbench runs the same SQL as a ceiling. Then, each behind its own
// flags (extras.go): SSE streams held open (taskd's memory and database
// connections), commit-to-event latency on 1 000 streams, the write path
// with the change log's triggers on and off, the isolation level's cost,
// webhook delivery, and bursts of concurrent requests with the database
// far away, taskd's pool shared by reads or not, or larger (burst.go).
// `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"taskd/db"
	"taskd/internal/pglocal"
)

type config struct {
	duration    time.Duration
	concurrency int
	dbLatency   time.Duration
	maxConns    int
	tasks       int
	scenarios   string
	pgbench     bool
	many        int
	oneProject  bool
	extra       extraConfig
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long each scenario runs")
	flag.IntVar(&c.concurrency, "concurrency", 32, "concurrent clients per scenario")
	flag.DurationVar(&c.dbLatency, "db-latency", 0, "delay added to every packet between taskd and PostgreSQL, each way")
	flag.IntVar(&c.maxConns, "db-max-conns", 32, "taskd's pool size (--db-max-conns)")
	flag.IntVar(&c.tasks, "tasks", 10000, "tasks to seed")
	flag.StringVar(&c.scenarios, "scenarios", strings.Join(scenarioNames, ","), "scenarios to run, comma-separated (empty: none)")
	flag.BoolVar(&c.pgbench, "pgbench", true, "run pgbench with the same SQL as a ceiling for get-task, list-project and create-task")
	flag.IntVar(&c.many, "many-clients", 1000, "clients of the final get-task run with 1 ms of database latency each way (0: skip)")
	flag.BoolVar(&c.oneProject, "one-project", true, "run create-task with 64 clients in one project")
	registerExtraFlags(&c.extra)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), "Usage: taskbench [flags]\n\nBenchmarks a real taskd on a fresh local PostgreSQL.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "taskbench:", err)
		os.Exit(1)
	}
}

// bench is the running system under test.
type bench struct {
	cfg      config
	cluster  *pglocal.Cluster
	proxy    *proxy
	taskd    *exec.Cmd
	base     string
	token    string
	dbURL    string // direct, for seeding
	seed     seed
	client   *http.Client
	pgPIDs   func() []int
	taskdPID int
	// taskdArgs are more flags for the next `taskd serve`, after the
	// usual ones (burst.go's variants).
	taskdArgs []string
}

func run(ctx context.Context, c config) error {
	if targetMode() {
		return runTarget(ctx, c) // target.go: a taskd that runs already, e.g. make cluster's
	}
	work, err := os.MkdirTemp("", "taskbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "building taskd and starting PostgreSQL ...")
	bin := filepath.Join(work, "taskd")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/taskd").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	cluster, err := pglocal.Start(ctx, filepath.Join(work, "pg"), pglocal.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	// Before taskd starts, so that it inherits the limit.
	if soft, _ := raiseOpenFiles(c.extra.openFilesWanted()); soft < c.extra.openFilesWanted() {
		fmt.Fprintf(os.Stderr, "taskbench: open files limited to %d (wanted %d): streams beyond that fail\n", soft, c.extra.openFilesWanted())
	}
	b := &bench{cfg: c, cluster: cluster, dbURL: cluster.URL("taskd")}
	if err := createDB(ctx, cluster.URL("postgres")); err != nil {
		return err
	}
	u, _ := url.Parse(b.dbURL)
	if err := db.Migrator(u, io.Discard, "").Migrate(); err != nil {
		return err
	}
	defer func() {
		if b.taskd != nil {
			_ = b.taskd.Process.Signal(syscall.SIGTERM)
			_ = b.taskd.Wait()
		}
		if b.proxy != nil {
			b.proxy.close()
		}
	}()
	if err := b.start(ctx, bin, c.dbLatency, c.maxConns); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeding 1 user, 10 projects, 50 tags, %d tasks ...\n", c.tasks)
	if err := b.seedData(ctx); err != nil {
		return err
	}

	results := []result{}
	for _, name := range strings.Split(c.scenarios, ",") {
		if strings.TrimSpace(name) == "" {
			continue
		}
		sc, ok := scenarios[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(scenarioNames, ", "))
		}
		fmt.Fprintf(os.Stderr, "running %s for %s at concurrency %d ...\n", name, c.duration, c.concurrency)
		r := b.measure(ctx, name, sc, c.concurrency, c.duration)
		if c.pgbench {
			if script, ok := pgbenchScripts[name]; ok {
				r.ceiling = b.runPgbench(ctx, work, name, script, c.concurrency, c.duration)
			}
		}
		results = append(results, r)
	}
	if c.oneProject {
		// A fresh user: the main one's quota counts (tags above all, which
		// the pgbench ceiling adds behind taskd's back) are read again a
		// minute after its first create, and by now it holds more tags
		// than its quota allows.
		fmt.Fprintf(os.Stderr, "running create-task with 64 clients in one project of a fresh user ...\n")
		s, token, err := b.seedUser(ctx, "one-project", c.tasks)
		if err != nil {
			return err
		}
		wb := *b
		wb.seed, wb.token = s, token
		results = append(results, wb.measure(ctx, "create-task x64, one project", scenarios["create-one-project"], 64, c.duration))
	}
	extras := b.runExtras(ctx, work)
	var bursts *burstResults
	if c.extra.burst.on {
		if bursts, err = b.runBurst(ctx, bin); err != nil {
			fmt.Fprintln(os.Stderr, "taskbench: burst:", err)
		}
	}
	if c.many > 0 {
		fmt.Fprintf(os.Stderr, "restarting taskd with 1 ms of database latency each way; get-task with %d clients ...\n", c.many)
		if err := b.restart(ctx, bin, time.Millisecond, c.maxConns); err != nil {
			return err
		}
		r := b.measure(ctx, fmt.Sprintf("get-task x%d, db 2ms away", c.many), scenarios["get-task"], c.many, c.duration)
		if c.pgbench {
			// The ceiling here is what the pool's connections can do across
			// the same 2 ms: pgbench with as many clients as taskd has
			// connections, through the same delaying proxy.
			r.ceiling = b.runPgbench(ctx, work, "get-task-far", pgbenchScripts["get-task"], c.maxConns, c.duration)
		}
		results = append(results, r)
	}
	if len(results) > 0 {
		printResults(os.Stdout, c, results)
	}
	printExtras(os.Stdout, extras)
	printBurst(os.Stdout, bursts)
	return nil
}

func createDB(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE taskd")
	return err
}
