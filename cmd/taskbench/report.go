package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

func printResults(w io.Writer, c config, results []result) {
	fmt.Fprintf(w, "taskbench: %s each, concurrency %d, db latency %s each way, pool %d, %d tasks; %d cores, %s\n\n",
		c.duration, c.concurrency, c.dbLatency, c.maxConns, c.tasks, runtime.NumCPU(), cpuModel())
	fmt.Fprintf(w, "| %-30s | %7s | %9s | %8s | %8s | %6s | %11s | %13s | %10s | %12s | %10s |\n",
		"scenario", "clients", "req/s", "p50 ms", "p99 ms", "errors", "SQL RT/req", "taskd CPU ms", "pg CPU ms", "vs pgbench", "retries/req")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", dash(32), dash(9), dash(11), dash(10), dash(10), dash(8), dash(13), dash(15), dash(12), dash(14), dash(12))
	for _, r := range results {
		ceiling := "-"
		if r.ceiling > 0 {
			ceiling = fmt.Sprintf("%.0f%% of %.0f", 100*r.rps()/r.ceiling, r.ceiling)
		}
		fmt.Fprintf(w, "| %-30s | %7d | %9.0f | %8.2f | %8.2f | %6d | %11.2f | %13.3f | %10.3f | %12s | %10.3f |\n",
			r.name, r.concurrency, r.rps(), ms(r.p50), ms(r.p99), r.errors, r.roundTrips, r.taskdCPU, r.pgCPU, ceiling, r.retries)
	}
	for _, r := range results {
		if r.errors > 0 {
			fmt.Fprintf(w, "\n%s: first error: %s\n", r.name, r.firstError)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func dash(n int) string { return strings.Repeat("-", n) }

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
