package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// raiseOpenFiles lifts this process's soft limit on open files to want
// (and the hard limit too when allowed, as root usually is), before taskd
// is started: a child inherits the limits, and syscall.Setrlimit also
// stops os/exec from restoring the original soft limit in children. Go
// programs raise their own soft limit to the hard one at start, so taskd
// gets at least the hard limit it inherits. It answers the limits now in
// force.
func raiseOpenFiles(want uint64) (soft, hard uint64) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0
	}
	if r.Cur < want && r.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want, want
		}
	}
	r.Cur = min(max(r.Cur, want), r.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur, r.Max
}

// openFilesLimit is a process's soft limit on open files, from
// /proc/<pid>/limits.
func openFilesLimit(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// rssOf is a process's resident set (VmRSS of /proc/<pid>/status), in bytes.
func rssOf(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// openFDs counts a process's open file descriptors.
func openFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// scrape reads the named samples (without labels) of taskd's /metrics.
func (b *bench) scrape(names ...string) map[string]float64 {
	out := map[string]float64{}
	res, err := b.client.Get(b.base + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				out[n], _ = strconv.ParseFloat(strings.TrimSpace(value), 64)
			}
		}
	}
	return out
}

// dbConnections counts PostgreSQL's client backends: those on taskd's
// database (only taskd is connected there while this is asked: its pool
// and its LISTEN connections) and all of them (this question's own
// excepted). It asks over a direct connection to the postgres database.
func (b *bench) dbConnections(ctx context.Context) (taskdDB, all int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE datname = 'taskd'), count(*)
		FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&taskdDB, &all)
	return taskdDB, all, err
}

// pgCPUWithExited is PostgreSQL's CPU time including that of backends
// that have exited since the cluster started (the postmaster's reaped
// children: cutime and cstime), so that short-lived connections, such as
// pgbench's, are counted.
func (b *bench) pgCPUWithExited() time.Duration {
	pids := b.pgPIDs()
	total := cpuOf(pids)
	if len(pids) == 0 {
		return total
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pids[0]))
	if err != nil {
		return total
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 15 {
		return total
	}
	cutime, _ := strconv.ParseInt(fields[13], 10, 64)
	cstime, _ := strconv.ParseInt(fields[14], 10, 64)
	return total + time.Duration(cutime+cstime)*time.Second/clockTicks
}

// apiJSON sends one request as the holder of token and decodes a 2xx
// answer into into (when not nil); any other status is an error.
func (b *bench) apiJSON(ctx context.Context, token, method, path, body string, into any) (int, error) {
	req := b.requestAs(token, method, path, body)
	req = req.WithContext(ctx)
	res, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(raw)))
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			return res.StatusCode, err
		}
	}
	return res.StatusCode, nil
}

// requestAs is request with another user's token.
func (b *bench) requestAs(token, method, path, body string) *http.Request {
	req := b.request(method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else {
		req.Header.Del("Authorization")
	}
	return req
}

// waitSampler samples, every 100 ms until stopped, what PostgreSQL's
// active backends on taskd's database are waiting on (pg_stat_activity's
// wait_event_type:wait_event, "CPU" when nothing), and counts them.
type waitSampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples int
	counts  map[string]int
}

func (b *bench) sampleWaits(ctx context.Context) *waitSampler {
	w := &waitSampler{stop: make(chan struct{}), done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(w.done)
		conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := conn.Query(ctx, `
				SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)
				FROM pg_stat_activity
				WHERE datname = 'taskd' AND state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
				GROUP BY 1`)
			if err != nil {
				return
			}
			for rows.Next() {
				var what string
				var n int
				if rows.Scan(&what, &n) == nil {
					w.counts[what] += n
				}
			}
			rows.Close()
			w.samples++
		}
	}()
	return w
}

// top stops the sampler and answers the most frequent waits as
// "what: average active backends" text.
func (w *waitSampler) top(n int) string {
	close(w.stop)
	<-w.done
	if w.samples == 0 {
		return "-"
	}
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range w.counts {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int { return b.v - a.v })
	var parts []string
	for _, e := range all[:min(n, len(all))] {
		parts = append(parts, fmt.Sprintf("%s %.1f", e.k, float64(e.v)/float64(w.samples)))
	}
	return strings.Join(parts, ", ")
}
