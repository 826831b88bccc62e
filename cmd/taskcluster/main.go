// Command taskcluster starts and stops taskd scaled out on this machine:
// one PostgreSQL, PgBouncer in transaction pooling mode, three `taskd
// serve` replicas and HAProxy in front (see internal/cluster and the
// README's "Scaling out"). `make cluster` runs `taskcluster up`, which
// returns once every part is ready and leaves them running; `make
// cluster-stop` runs `taskcluster down`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"taskd/internal/cluster"
	"taskd/internal/pglocal"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "taskcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("taskcluster", flag.ContinueOnError)
	dir := fs.String("dir", ".data/cluster", "where the cluster lives: data, configuration, logs (log/) and process ids (run/)")
	taskd := fs.String("taskd", "bin/taskd", "the taskd binary the replicas run (up)")
	replicas := fs.Int("replicas", 3, "how many taskd replicas (up)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: taskcluster up|down|status [flags]\n\n"+
			"  up      start PostgreSQL, PgBouncer, the replicas and HAProxy; return once all are ready, leaving them running\n"+
			"  down    stop them (each replica drains; PostgreSQL shuts down cleanly)\n"+
			"  status  list what runs\n\n"+
			"The replicas take taskd serve's environment (RATE_LIMIT, WEBHOOK_ALLOW_PRIVATE, ...) from this command's.\n\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("up, down or status?")
	}
	action := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch action {
	case "up":
		return up(ctx, *dir, *taskd, *replicas)
	case "down":
		start := time.Now()
		if err := cluster.StopDir(ctx, *dir, pglocal.Shutdown); err != nil {
			return err
		}
		fmt.Printf("cluster in %s stopped (%s)\n", *dir, time.Since(start).Round(time.Millisecond))
		return nil
	case "status":
		return status(*dir)
	default:
		fs.Usage()
		return fmt.Errorf("unknown action %q", action)
	}
}

func up(ctx context.Context, dir, taskd string, replicas int) error {
	if running := cluster.Running(dir); len(running) > 0 {
		fmt.Printf("a cluster is already running in %s (make cluster-stop stops it):\n", dir)
		return status(dir)
	}
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Config{
		Dir: dir, Taskd: taskd, Replicas: replicas, Ports: cluster.DefaultPorts(replicas),
		ShutdownDelay: 5 * time.Second, Log: os.Stdout,
	})
	if err != nil {
		return err
	}
	env := fmt.Sprintf("TASKD_URL=%s\nDATABASE_URL=%s\nDATABASE_DIRECT_URL=%s\nPGBOUNCER_ADMIN_URL=%s\n", c.API, c.PooledURL, c.DirectURL, c.AdminURL)
	envFile := filepath.Join(dir, "cluster.env")
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		return err
	}
	fmt.Printf("\ncluster up in %s: the API is at %s/v1 (docs: %s/docs)\n", time.Since(start).Round(time.Millisecond), c.API, c.API)
	fmt.Printf("URLs (with the password) in %s; logs in %s/log; stop with make cluster-stop\n", envFile, dir)
	return nil
}

func status(dir string) error {
	running := cluster.Running(dir)
	if len(running) == 0 {
		fmt.Printf("no cluster runs in %s\n", dir)
		return nil
	}
	var names []string
	for name := range running {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("  %-10s pid %d\n", name, running[name])
	}
	if env, err := os.ReadFile(filepath.Join(dir, "cluster.env")); err == nil {
		for _, line := range strings.Split(string(env), "\n") {
			if u, ok := strings.CutPrefix(line, "TASKD_URL="); ok {
				fmt.Printf("  API: %s/v1\n", u)
			}
		}
	}
	return nil
}
