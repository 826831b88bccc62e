package main

// Target mode: taskbench measures a taskd that runs already (make
// cluster's replicas behind HAProxy) instead of starting PostgreSQL and
// taskd itself. It seeds a fresh user through the API and the database
// as usual, runs the chosen scenarios through the target URL, and sums
// the CPU time of the given taskd processes (and of PostgreSQL, PgBouncer
// and HAProxy when it knows them) per request.
//
//	RATE_LIMIT=0 SIGNUP_RATE_LIMIT=0 make cluster
//	go run ./cmd/taskbench -cluster .data/cluster -scenarios get-task,list-project,create-task

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskd/internal/cluster"
)

var target struct {
	cluster string // make cluster's directory: fills in the rest
	url     string
	db      string
	pids    string
}

func init() {
	flag.StringVar(&target.cluster, "cluster", "", "measure the running `make cluster` in this directory (e.g. .data/cluster) instead of starting PostgreSQL and taskd: -target, -target-db and -target-pids default to its HAProxy, its direct PostgreSQL URL and its live replicas")
	flag.StringVar(&target.url, "target", "", "measure the taskd (or balancer) at this URL instead of starting one")
	flag.StringVar(&target.db, "target-db", "", "with -target: the direct PostgreSQL URL to seed through")
	flag.StringVar(&target.pids, "target-pids", "", "with -target: comma-separated pids of the taskd processes whose CPU time counts")
}

func targetMode() bool { return target.cluster != "" || target.url != "" }

// targetSystem is what a target-mode run measures.
type targetSystem struct {
	url, db   string
	taskd     []int
	replicas  []string // names, for the report
	pgDir     string   // PostgreSQL's data directory, for its pids; "" unknown
	proxyPIDs []int    // HAProxy and PgBouncer
}

func resolveTarget() (*targetSystem, error) {
	t := &targetSystem{url: target.url, db: target.db}
	if target.cluster != "" {
		env, err := os.ReadFile(filepath.Join(target.cluster, "cluster.env"))
		if err != nil {
			return nil, fmt.Errorf("-cluster: %w (is make cluster running?)", err)
		}
		for _, line := range strings.Split(string(env), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch {
			case k == "TASKD_URL" && t.url == "":
				t.url = v
			case k == "DATABASE_DIRECT_URL" && t.db == "":
				t.db = v
			}
		}
		t.pgDir = filepath.Join(target.cluster, "postgres")
		running := cluster.Running(target.cluster)
		for _, name := range slices.Sorted(maps.Keys(running)) {
			pid := running[name]
			switch {
			case strings.HasPrefix(name, "taskd") && target.pids == "":
				t.taskd = append(t.taskd, pid)
				t.replicas = append(t.replicas, name)
			case name == "haproxy" || name == "pgbouncer":
				t.proxyPIDs = append(t.proxyPIDs, pid)
			}
		}
	}
	for _, s := range strings.Split(target.pids, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("-target-pids: %q is not a pid", s)
		}
		t.taskd = append(t.taskd, pid)
		t.replicas = append(t.replicas, "pid "+s)
	}
	switch {
	case t.url == "":
		return nil, fmt.Errorf("no target URL")
	case t.db == "":
		return nil, fmt.Errorf("no database URL to seed through (-target-db)")
	case len(t.taskd) == 0:
		return nil, fmt.Errorf("no taskd processes to measure (-target-pids)")
	}
	// A benchmark measures the server, not its rate limits: each replica
	// must run with RATE_LIMIT=0 (make cluster passes it through).
	for i, pid := range t.taskd {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.replicas[i], err)
		}
		vars := strings.Split(string(env), "\x00")
		if !slices.Contains(vars, "RATE_LIMIT=0") {
			return nil, fmt.Errorf("%s (pid %d) does not run with RATE_LIMIT=0: its rate limit would be measured; start the cluster with RATE_LIMIT=0 SIGNUP_RATE_LIMIT=0 make cluster", t.replicas[i], pid)
		}
	}
	return t, nil
}

// targetResult is one row of the target-mode report.
type targetResult struct {
	result
	proxyCPU float64 // HAProxy and PgBouncer, ms per request
}

func runTarget(ctx context.Context, c config) error {
	t, err := resolveTarget()
	if err != nil {
		return err
	}
	b := &bench{cfg: c, base: strings.TrimSuffix(t.url, "/"), dbURL: t.db,
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}, Timeout: 60 * time.Second},
		pgPIDs: func() []int {
			if t.pgDir == "" {
				return nil
			}
			return clusterPIDs(t.pgDir)
		}}
	fmt.Fprintf(os.Stderr, "target %s, taskd %s (pids %v); seeding 1 user, 10 projects, 50 tags, %d tasks ...\n", t.url, strings.Join(t.replicas, ", "), t.taskd, c.tasks)
	s, token, err := b.seedUser(ctx, fmt.Sprintf("bench-%d", time.Now().Unix()), c.tasks)
	if err != nil {
		return err
	}
	b.seed, b.token = s, token
	var results []targetResult
	for _, name := range strings.Split(c.scenarios, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		sc, ok := scenarios[name]
		if !ok {
			return fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(scenarioNames, ", "))
		}
		fmt.Fprintf(os.Stderr, "running %s for %s at concurrency %d ...\n", name, c.duration, c.concurrency)
		results = append(results, b.measureTarget(ctx, t, name, sc, c.concurrency, c.duration))
	}
	printTargetResults(os.Stdout, c, t, results)
	return nil
}

// measureTarget is measure without what only a taskbench-started taskd
// gives (the SQL round trips its proxy counts, its /metrics).
func (b *bench) measureTarget(ctx context.Context, t *targetSystem, name string, sc scenario, n int, d time.Duration) targetResult {
	b.drive(ctx, sc, min(n, 32), 500*time.Millisecond)
	tc0, pg0, xc0 := cpuOf(t.taskd), cpuByPID(b.pgPIDs()), cpuOf(t.proxyPIDs)
	start := time.Now()
	lat, errs, first := b.drive(ctx, sc, n, d)
	elapsed := time.Since(start)
	tc1, pg1, xc1 := cpuOf(t.taskd), cpuByPID(b.pgPIDs()), cpuOf(t.proxyPIDs)
	// Per process: a backend that started during the run counts from zero;
	// one that exited is lost (PgBouncer keeps its server connections).
	var pgCPU time.Duration
	for pid, cpu := range pg1 {
		pgCPU += cpu - pg0[pid]
	}

	r := targetResult{result: result{name: name, concurrency: n, requests: len(lat), errors: errs, elapsed: elapsed, firstError: first}}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
		per := float64(len(lat))
		r.taskdCPU = float64((tc1 - tc0).Microseconds()) / 1000 / per
		r.pgCPU = float64(pgCPU.Microseconds()) / 1000 / per
		r.proxyCPU = float64((xc1 - xc0).Microseconds()) / 1000 / per
	}
	return r
}

func printTargetResults(w io.Writer, c config, t *targetSystem, results []targetResult) {
	fmt.Fprintf(w, "taskbench against %s: %d taskd (%s), %s each, concurrency %d, %d tasks; %d cores shared by everything, %s\n\n",
		t.url, len(t.taskd), strings.Join(t.replicas, ", "), c.duration, c.concurrency, c.tasks, runtime.NumCPU(), cpuModel())
	fmt.Fprintf(w, "| %-14s | %8s | %9s | %8s | %8s | %6s | %13s | %10s | %22s |\n",
		"scenario", "replicas", "req/s", "p50 ms", "p99 ms", "errors", "taskd CPU ms", "pg CPU ms", "HAProxy+PgBouncer CPU ms")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(16), dash(10), dash(11), dash(10), dash(10), dash(8), dash(15), dash(12), dash(26))
	for _, r := range results {
		fmt.Fprintf(w, "| %-14s | %8d | %9.0f | %8.2f | %8.2f | %6d | %13.3f | %10.3f | %24.3f |\n",
			r.name, len(t.taskd), r.rps(), ms(r.p50), ms(r.p99), r.errors, r.taskdCPU, r.pgCPU, r.proxyCPU)
	}
	for _, r := range results {
		if r.errors > 0 {
			fmt.Fprintf(w, "\n%s: first error: %s\n", r.name, r.firstError)
		}
	}
}

func cpuByPID(pids []int) map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, pid := range pids {
		if cpu, _, ok := procStat(pid); ok {
			out[pid] = cpu
		}
	}
	return out
}
