package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// extraConfig are the flags of the parts after the request scenarios:
// streams held open, commit-to-event latency, the write path's change
// log and isolation level, webhooks. Each runs alone with the others off,
// e.g. -scenarios= -one-project=false -many-clients=0 -pgbench=false
// -stream-latency=0 -changelog-ab=0 -isolation=false -webhooks=false
// -burst=false -streams 10000.
type extraConfig struct {
	streams        int
	streamUsers    string
	streamHold     time.Duration
	latencyStreams int
	latencyRates   string
	latencyWrite   string
	latencyFor     time.Duration
	changeLogReps  int
	changeLogConc  string
	isolation      bool
	webhooks       bool
	webhookRate    int
	webhookClients int
	webhookBacklog int
	burst          burstConfig // burst.go
}

func registerExtraFlags(e *extraConfig) {
	flag.IntVar(&e.streams, "streams", 10000, "SSE streams (GET /v1/changes/stream) to open and hold on taskd, measuring its RSS and database connections (0: skip)")
	flag.StringVar(&e.streamUsers, "stream-users", "0,10", "users the -streams are spread over, comma-separated for several runs (0: one user per stream)")
	flag.DurationVar(&e.streamHold, "stream-hold", 40*time.Second, "how long the -streams are held idle (CPU and round trips measured meanwhile; longer than the 15 s heartbeat and the server's 30 s read timeout)")
	flag.IntVar(&e.latencyStreams, "stream-latency", 1000, "streams, each its own user's, for the commit-to-event latency run (0: skip)")
	flag.StringVar(&e.latencyRates, "stream-rate", "500,250", "writes per second in the latency runs, spread round-robin over their users; comma-separated for several runs on the same streams")
	flag.StringVar(&e.latencyWrite, "stream-write", "mixed", "the latency run's writes: create (POST /v1/tasks), patch (PATCH a task's title) or mixed (alternate rounds)")
	flag.DurationVar(&e.latencyFor, "stream-duration", 10*time.Second, "how long the latency run writes")
	flag.IntVar(&e.changeLogReps, "changelog-ab", 4, "runs of create-task and patch-task each with the change log's triggers on and off, alternating on/off/off/on, reported pair by pair (0: skip)")
	flag.StringVar(&e.changeLogConc, "changelog-ab-clients", "1,32", "concurrencies of the -changelog-ab runs, comma-separated")
	flag.BoolVar(&e.isolation, "isolation", true, "pgbench create-task's statement in READ COMMITTED and in SERIALIZABLE transactions, PostgreSQL CPU per transaction")
	flag.BoolVar(&e.webhooks, "webhooks", true, "webhook deliveries to a receiver in taskbench: commit-to-delivery latency and deliveries per second")
	flag.IntVar(&e.webhookRate, "webhook-rate", 100, "creates per second in the webhook latency run")
	flag.IntVar(&e.webhookClients, "webhook-clients", 32, "clients creating as fast as they can in the webhook throughput run")
	flag.IntVar(&e.webhookBacklog, "webhook-backlog", 1000, "deliveries queued at once (one SQL INSERT of as many tasks) and timed until delivered (0: skip)")
	registerBurstFlags(&e.burst)
}

// openFilesWanted is the open-files limit the streams need: one
// descriptor each, in taskbench and in taskd, and some to spare; and
// the bursts' connections.
func (e extraConfig) openFilesWanted() uint64 {
	return uint64(max(e.streams, e.latencyStreams, e.burst.openFiles())) + 1024
}

type extraResults struct {
	noFile      [2]int // taskbench's and taskd's open-files limits
	holds       []holdResult
	latency     []latencyResult
	changeLog   []costRow
	isolation   []isolationRow
	webhooks    *webhookResult
	concurrency int
	duration    time.Duration
}

// runExtras runs the parts that extraConfig turns on, in order; a part
// that fails is reported and the next one runs.
func (b *bench) runExtras(ctx context.Context, work string) extraResults {
	e, c := b.cfg.extra, b.cfg
	x := extraResults{concurrency: c.concurrency, duration: c.duration}
	x.noFile = [2]int{openFilesLimit(os.Getpid()), openFilesLimit(b.taskdPID)}
	fail := func(part string, err error) { fmt.Fprintf(os.Stderr, "taskbench: %s: %v\n", part, err) }
	if e.streams > 0 {
		for i, f := range strings.Split(e.streamUsers, ",") {
			users, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				fail("-stream-users", err)
				break
			}
			r, err := b.holdStreams(ctx, e.streams, users, e.streamHold, i)
			if err != nil {
				fail("streams", err)
			}
			x.holds = append(x.holds, r)
		}
	}
	if e.latencyStreams > 0 {
		var rates []int
		for _, f := range strings.Split(e.latencyRates, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				rates = append(rates, n)
			} else {
				fail("-stream-rate", fmt.Errorf("%q is no rate", f))
			}
		}
		rs, err := b.streamLatency(ctx, e.latencyStreams, rates, e.latencyFor, e.latencyWrite)
		if err != nil {
			fail("stream latency", err)
		}
		x.latency = rs
	}
	if e.changeLogReps > 0 {
		for _, f := range strings.Split(e.changeLogConc, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fail("-changelog-ab-clients", fmt.Errorf("%q is no concurrency", f))
				break
			}
			rows, err := b.changeLogCost(ctx, e.changeLogReps, n, c.duration)
			if err != nil {
				fail("change log cost", err)
			}
			x.changeLog = append(x.changeLog, rows...)
		}
	}
	if e.isolation {
		rows, err := b.isolationCost(ctx, work, c.concurrency, c.duration)
		if err != nil {
			fail("isolation cost", err)
		}
		x.isolation = rows
	}
	if e.webhooks {
		r, err := b.benchWebhooks(ctx, e.webhookRate, e.webhookClients, e.webhookBacklog, c.duration)
		if err != nil {
			fail("webhooks", err)
		} else {
			x.webhooks = &r
		}
	}
	return x
}

// printSetup notes what setting the parts up met.
func printSetup(w io.Writer) {
	if n := signUpRetries.Load(); n > 0 {
		fmt.Fprintf(w, "\nSet-up requests (sign-ups, projects) that taskd answered 503 (a write that kept conflicting) and taskbench sent again: %d\n", n)
	}
}

func mib(bytes float64) float64 { return bytes / (1 << 20) }

func printExtras(w io.Writer, x extraResults) {
	if len(x.holds) > 0 {
		fmt.Fprintf(w, "\nStreams held open on one taskd (open-files limit: taskbench %d, taskd %d):\n\n", x.noFile[0], x.noFile[1])
		fmt.Fprintf(w, "| %7s | %6s | %7s | %6s | %7s | %15s | %15s | %10s | %17s | %15s | %16s |\n",
			"streams", "users", "opened", "failed", "open/s", "taskd RSS MiB", "with streams", "per stream", "Go heap MiB", "goroutines", "PG conns (pool)")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(9), dash(8), dash(9), dash(8), dash(9), dash(17), dash(17), dash(12), dash(19), dash(17), dash(18))
		for _, r := range x.holds {
			per := "-"
			if r.opened > 0 {
				per = fmt.Sprintf("%.1f KiB", float64(r.rssWith-r.rssBefore)/1024/float64(r.opened))
			}
			fmt.Fprintf(w, "| %7d | %6d | %7d | %6d | %7.0f | %15.0f | %15s | %10s | %17s | %15s | %16s |\n",
				r.streams, r.users, r.opened, r.failed, float64(r.opened)/r.openTook.Seconds(), mib(float64(r.rssBefore)),
				fmt.Sprintf("%.0f (peak %.0f)", mib(float64(r.rssWith)), mib(float64(r.rssPeak))), per,
				fmt.Sprintf("%.0f -> %.0f", mib(r.heapBefore), mib(r.heapWith)),
				fmt.Sprintf("%.0f -> %.0f", r.goroutinesBefore, r.goroutinesWith),
				fmt.Sprintf("%d -> %d (%.0f)", r.dbBefore, r.dbWith, r.poolMax))
		}
		fmt.Fprintf(w, "\nThe same streams held idle:\n\n")
		fmt.Fprintf(w, "| %7s | %6s | %6s | %15s | %13s | %9s | %17s | %16s |\n",
			"streams", "users", "held s", "taskd CPU ms/s", "PG CPU ms/s", "SQL RT/s", "ended while held", "RSS after close")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(9), dash(8), dash(8), dash(17), dash(15), dash(11), dash(19), dash(18))
		for _, r := range x.holds {
			ended := fmt.Sprint(r.ended)
			if r.ended > 0 {
				ended = fmt.Sprintf("%d, 1st at %.0fs", r.ended, r.firstEndAfter.Seconds())
			}
			fmt.Fprintf(w, "| %7d | %6d | %6.0f | %15.1f | %13.1f | %9.0f | %17s | %12.0f MiB |\n",
				r.opened, r.users, r.hold.Seconds(), r.taskdCPU, r.pgCPU, r.roundTrips, ended, mib(float64(r.rssAfter)))
		}
		for _, r := range x.holds {
			if r.failed > 0 {
				fmt.Fprintf(w, "\n%d streams over %d users: first failure to open: %s\n", r.streams, r.users, r.firstError)
			}
			if r.ended > 0 {
				fmt.Fprintf(w, "\n%d streams over %d users: first end while held: %s\n", r.streams, r.users, r.firstEnd)
			}
		}
	}
	for _, r := range x.latency {
		fmt.Fprintf(w, "\nCommit-to-event latency: %d streams (%d open at the end), each its own user's; %s writes, %d/s for %s (sent %.0f/s): "+
			"%d writes, %d errors, %d events missing, %d events before the write's response; per write taskd %.3f ms CPU, PostgreSQL %.3f ms; "+
			"taskd and PostgreSQL busy %.2f cores\n\n",
			r.streams, r.opened-r.ended, r.write, r.rate, r.duration, r.achieved, r.writes, r.errors, r.missing, r.beforeResponse, r.taskdCPU, r.pgCPU, r.cpuShare)
		fmt.Fprintf(w, "| %-6s | %6s | %12s | %12s | %15s | %15s | %15s | %15s | %15s |\n",
			"write", "n", "write p50 ms", "write p99 ms", "send->event p50", "send->event p99", "send->event max", "resp->event p50", "resp->event p99")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(8), dash(8), dash(14), dash(14), dash(17), dash(17), dash(17), dash(17), dash(17))
		for _, row := range r.rows {
			fmt.Fprintf(w, "| %-6s | %6d | %12.2f | %12.2f | %15.2f | %15.2f | %15.2f | %15.2f | %15.2f |\n",
				row.kind, row.n, ms(row.writeP50), ms(row.writeP99), ms(row.sendP50), ms(row.sendP99), ms(row.sendMax), ms(row.respP50), ms(row.respP99))
		}
		fmt.Fprintf(w, "\nlatency run at %d/s: PostgreSQL backends active on taskd's database, on average, by what they waited on: %s\n", r.rate, r.waits)
		if r.firstError != "" {
			fmt.Fprintf(w, "\nlatency run at %d/s: first error: %s\n", r.rate, r.firstError)
		}
	}
	if len(x.changeLog) > 0 {
		fmt.Fprintf(w, "\nWrite path with the change log's triggers on and off (%s runs, each a fresh user; sums of the runs):\n\n", x.duration)
		fmt.Fprintf(w, "| %-12s | %7s | %-14s | %4s | %7s | %6s | %11s | %13s | %10s | %6s | %11s |\n",
			"scenario", "clients", "triggers", "runs", "req/s", "errors", "SQL RT/req", "taskd CPU ms", "pg CPU ms", "p50 ms", "retries/req")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(14), dash(9), dash(16), dash(6), dash(9), dash(8), dash(13), dash(15), dash(12), dash(8), dash(13))
		for _, r := range x.changeLog {
			var p50 time.Duration
			for _, p := range r.p50s {
				p50 += p / time.Duration(len(r.p50s))
			}
			fmt.Fprintf(w, "| %-12s | %7d | %-14s | %4d | %7.0f | %6d | %11.2f | %13.3f | %10.3f | %6.2f | %11.3f |\n",
				r.scenario, r.concurrency, r.config, r.runs, float64(r.requests)/r.elapsed.Seconds(), r.errors, r.per(r.roundTrips), r.per(r.taskdCPU), r.per(r.pgCPU), ms(p50), r.per(r.retries))
		}
		fmt.Fprintf(w, "\nCPU a request (taskd + PostgreSQL), log on over log off, run by run (each pair ran side by side):\n\n")
		for i := 0; i+1 < len(x.changeLog); i += 2 {
			off, on := x.changeLog[i], x.changeLog[i+1]
			rs := pairRatios(off, on)
			if len(rs) == 0 {
				continue
			}
			var pairs []string
			for _, r := range rs {
				pairs = append(pairs, fmt.Sprintf("%+.1f %%", 100*(r-1)))
			}
			med := rs[len(rs)/2]
			if len(rs)%2 == 0 {
				med = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
			}
			fmt.Fprintf(w, "- %s x%d: median %+.1f %%, sums %+.1f %% (pairs, sorted: %s)\n", on.scenario, on.concurrency,
				100*(med-1), 100*((on.per(on.taskdCPU)+on.per(on.pgCPU))/(off.per(off.taskdCPU)+off.per(off.pgCPU))-1), strings.Join(pairs, ", "))
		}
		for _, r := range x.changeLog {
			if r.errors > 0 {
				fmt.Fprintf(w, "\n%s x%d, %s: first error: %s\n", r.scenario, r.concurrency, r.config, r.firstError)
			}
		}
	}
	if len(x.isolation) > 0 {
		fmt.Fprintf(w, "\npgbench, create-task's statement (BEGIN; TaskCreate; COMMIT) for %s at concurrency %d, each a fresh user:\n\n", x.duration, x.concurrency)
		fmt.Fprintf(w, "| %-15s | %7s | %13s | %8s | %7s |\n", "isolation", "tps", "pg CPU ms/tx", "retried", "failed")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|\n", dash(17), dash(9), dash(15), dash(10), dash(9))
		for _, r := range x.isolation {
			fmt.Fprintf(w, "| %-15s | %7.0f | %13.3f | %8d | %7d |\n", r.level, r.tps, r.pgCPU, r.retried, r.failed)
		}
	}
	defer printSetup(w)
	if r := x.webhooks; r != nil {
		fmt.Fprintf(w, "\nWebhooks (one user, events [\"*\"], a receiver in taskbench on 127.0.0.1):\n\n")
		fmt.Fprintf(w, "| %-22s | %7s | %6s | %7s | %15s | %15s | %15s | %15s | %15s |\n",
			"latency run", "creates", "errors", "missing", "send->dlv p50", "send->dlv p99", "resp->dlv p50", "resp->dlv p99", "resp->dlv max")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(24), dash(9), dash(8), dash(9), dash(17), dash(17), dash(17), dash(17), dash(17))
		fmt.Fprintf(w, "| %-22s | %7d | %6d | %7d | %15.2f | %15.2f | %15.2f | %15.2f | %15.2f |\n",
			fmt.Sprintf("%d/s for %s", r.rate, r.duration), r.latWrites, r.latErrs, r.latMissing,
			ms(r.sendP50), ms(r.sendP99), ms(r.respP50), ms(r.respP99), ms(r.respMax))
		fmt.Fprintf(w, "\n| %-22s | %7s | %9s | %11s | %10s | %8s | %10s | %8s | %13s | %10s |\n",
			"throughput run", "creates", "creates/s", "dlv/s while", "delivered", "repeats", "drain s", "dlv/s", "taskd CPU ms", "pg CPU ms")
		fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(24), dash(9), dash(11), dash(13), dash(12), dash(10), dash(12), dash(10), dash(15), dash(12))
		fmt.Fprintf(w, "| %-22s | %7d | %9.0f | %11.0f | %10d | %8d | %10.1f | %8.0f | %13.3f | %10.3f |\n",
			fmt.Sprintf("%d clients for %s", r.concurrency, r.duration), r.writes, r.writeRate, r.deliveredWhile, r.delivered, r.repeats,
			r.drain.Seconds(), r.deliveryRate, r.taskdCPU, r.pgCPU)
		if r.backlog > 0 {
			rate := 0.0
			if r.backlogTook > 0 {
				rate = float64(r.backlogDelivered) / r.backlogTook.Seconds()
			}
			fmt.Fprintf(w, "\n| %-22s | %10s | %9s | %8s | %13s | %10s |\n", "backlog run", "delivered", "took s", "dlv/s", "taskd CPU ms", "pg CPU ms")
			fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|\n", dash(24), dash(12), dash(11), dash(10), dash(15), dash(12))
			fmt.Fprintf(w, "| %-22s | %10d | %9.1f | %8.0f | %13.3f | %10.3f |\n",
				fmt.Sprintf("%d queued at once", r.backlog), r.backlogDelivered, r.backlogTook.Seconds(), rate, r.backlogTaskd, r.backlogPg)
		}
		if r.writeErrors > 0 {
			fmt.Fprintf(w, "\nwebhook throughput run: %d create errors, first: %s\n", r.writeErrors, r.firstError)
		}
	}
}
