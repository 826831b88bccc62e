package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// changeLogTriggers are the change log's triggers (migration
// 20261130000002_changes, extended by the webhook outbox in
// 20261130000003_webhooks; task_tags' went in
// 20261130000005_task_tags_changes_from_tasks), by table.
var changeLogTriggers = map[string][]string{
	"projects": {"projects_inserted", "projects_updated", "projects_deleted"},
	"tasks":    {"tasks_inserted", "tasks_updated", "tasks_deleted"},
	"tags":     {"tags_inserted", "tags_updated", "tags_deleted"},
	"comments": {"comments_inserted", "comments_updated", "comments_deleted"},
}

// setChangeLog enables or disables the change log's triggers: with them
// off a write records no change, notifies no stream and queues no webhook
// delivery, which is what writes cost before the change log existed.
func (b *bench) setChangeLog(ctx context.Context, on bool) error {
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	for table, triggers := range changeLogTriggers {
		var actions []string
		for _, t := range triggers {
			actions = append(actions, verb+" TRIGGER "+t)
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE "+table+" "+strings.Join(actions, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// costRow sums runs of one scenario in one configuration.
type costRow struct {
	scenario, config            string
	concurrency                 int
	runs, requests, errors      int
	elapsed                     time.Duration
	roundTrips, taskdCPU, pgCPU float64 // totals; per request when printed
	retries                     float64
	firstError                  string
	p50s                        []time.Duration
	// cpuPerRun is each run's taskd + PostgreSQL CPU ms a request, in
	// the order the runs ran: the k-th "on" run and the k-th "off" run
	// ran next to each other (on, off, off, on, ...), so they pair.
	cpuPerRun []float64
}

func (c *costRow) add(r result) {
	n := float64(r.requests)
	c.runs++
	c.requests += r.requests
	c.errors += r.errors
	c.elapsed += r.elapsed
	c.roundTrips += r.roundTrips * n
	c.taskdCPU += r.taskdCPU * n
	c.pgCPU += r.pgCPU * n
	c.retries += r.retries * n
	c.p50s = append(c.p50s, r.p50)
	c.cpuPerRun = append(c.cpuPerRun, r.taskdCPU+r.pgCPU)
	if c.firstError == "" {
		c.firstError = r.firstError
	}
}

func (c costRow) per(total float64) float64 {
	if c.requests == 0 {
		return 0
	}
	return total / float64(c.requests)
}

// pairRatios are the on run's CPU a request over its neighbouring off
// run's, pair by pair, sorted. The machine's speed drifts by more than
// the change log costs from one minute to the next; a pair's two runs
// share that minute, so the pairs' median is what the log costs.
func pairRatios(off, on costRow) []float64 {
	var rs []float64
	for k := range min(len(off.cpuPerRun), len(on.cpuPerRun)) {
		if off.cpuPerRun[k] > 0 {
			rs = append(rs, on.cpuPerRun[k]/off.cpuPerRun[k])
		}
	}
	slices.Sort(rs)
	return rs
}

// changeLogCost runs create-task and patch-task with the change log's
// triggers on and off, in the order on, off, off, on, ... (reps of each),
// each run as a fresh user seeded as the main one (so that no run meets
// another's quotas or rows), and sums the runs of each configuration.
func (b *bench) changeLogCost(ctx context.Context, reps, concurrency int, d time.Duration) ([]costRow, error) {
	rows := map[string]*costRow{}
	order := []string{}
	defer func() { _ = b.setChangeLog(context.WithoutCancel(ctx), true) }()
	for i := range 2 * reps {
		on := i%4 == 0 || i%4 == 3
		config := map[bool]string{true: "change log on", false: "change log off"}[on]
		if err := b.setChangeLog(ctx, on); err != nil {
			return nil, err
		}
		s, token, err := b.seedUser(ctx, fmt.Sprintf("cost-%d-%d", concurrency, i), b.cfg.tasks)
		if err != nil {
			return nil, err
		}
		wb := *b
		wb.seed, wb.token = s, token
		for _, name := range []string{"create-task", "patch-task"} {
			fmt.Fprintf(os.Stderr, "write cost: %s, %s (run %d of %d) ...\n", name, config, i+1, 2*reps)
			r := wb.measure(ctx, name, scenarios[name], concurrency, d)
			key := name + "/" + config
			if rows[key] == nil {
				rows[key] = &costRow{scenario: name, config: config, concurrency: concurrency}
				order = append(order, key)
			}
			rows[key].add(r)
		}
	}
	out := make([]costRow, 0, len(order))
	for _, name := range []string{"create-task", "patch-task"} {
		for _, config := range []string{"change log off", "change log on"} {
			if r := rows[name+"/"+config]; r != nil {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}

// isolationRow is pgbench running create-task's statement in a
// transaction of one isolation level.
type isolationRow struct {
	level                      string
	tps, pgCPU                 float64 // pgCPU: ms per transaction
	processed, failed, retried int
}

// isolationCost runs create-task's exact statement with pgbench (through
// the same proxy, at the same concurrency) in READ COMMITTED and in
// SERIALIZABLE transactions, each as a fresh user, and measures
// PostgreSQL's CPU per transaction: what the isolation level costs the
// database for the same SQL. (taskd's own work does not depend on it.)
func (b *bench) isolationCost(ctx context.Context, work string, concurrency int, d time.Duration) ([]isolationRow, error) {
	var out []isolationRow
	for i, level := range []string{"READ COMMITTED", "SERIALIZABLE"} {
		s, _, err := b.seedUser(ctx, fmt.Sprintf("isolation-%d", i), b.cfg.tasks)
		if err != nil {
			return nil, err
		}
		wb := *b
		wb.seed = s
		fmt.Fprintf(os.Stderr, "isolation: pgbench create-task in %s transactions for %s ...\n", level, d)
		cpu0 := b.pgCPUWithExited()
		res, err := wb.pgbench(ctx, work, "isolation", createTaskScript("BEGIN ISOLATION LEVEL "+level), concurrency, d)
		if err != nil {
			return nil, err
		}
		time.Sleep(300 * time.Millisecond) // the postmaster reaps pgbench's backends
		cpu := b.pgCPUWithExited() - cpu0
		row := isolationRow{level: level, tps: res.tps, processed: res.processed, failed: res.failed, retried: res.retried}
		if res.processed > 0 {
			row.pgCPU = float64(cpu.Microseconds()) / 1000 / float64(res.processed)
		}
		out = append(out, row)
	}
	return out, nil
}
