package main

// The burst part: what a burst of concurrent requests costs when the
// database is far away, with taskd's pool shared by concurrent reads
// (--db-share-reads, the default where taskd has it) and without (the
// behaviour before it), and the other way out, a pool as large as the
// burst, whose cost is PostgreSQL connections.
//
// For each -burst-latencies delay (each way through the proxy) and each
// variant, taskd is restarted and, over a warmed HTTP client (its
// keep-alive connections opened by a warm-up burst, so no measured
// request dials):
//   - -burst-sizes: N concurrent GET /v1/tasks/{id}, fired at once from N
//     goroutines; the wall time from firing to the last response, one
//     warm-up burst and -burst-rounds measured ones;
//   - -burst-lists concurrent GET /v1/tasks?project_id=…&limit=50, the same way;
//   - -burst-creates sequential POST /v1/tasks, each timed alone;
//   - PostgreSQL's connections of taskd's database (pg_stat_activity)
//     after them, and the connections taskd opened through the proxy.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"taskd/internal/pglocal"
)

type burstConfig struct {
	on             bool
	latencies      string
	sizes          string
	rounds         int
	lists          int
	creates        int
	pools          string
	acquireTimeout time.Duration
}

func registerBurstFlags(c *burstConfig) {
	flag.BoolVar(&c.on, "burst", true, "bursts of concurrent requests at each -burst-latencies, taskd with and without --db-share-reads and with larger pools (-burst-pools)")
	flag.StringVar(&c.latencies, "burst-latencies", "50ms,1ms,0", "database delays of the burst runs, each way, comma-separated")
	flag.StringVar(&c.sizes, "burst-sizes", "100,1000", "concurrent GET /v1/tasks/{id} per burst, comma-separated")
	flag.IntVar(&c.rounds, "burst-rounds", 5, "measured bursts of each size (after one warm-up burst)")
	flag.IntVar(&c.lists, "burst-lists", 100, "concurrent GET /v1/tasks?project_id=…&limit=50 per list burst (0: skip)")
	flag.IntVar(&c.creates, "burst-creates", 10, "sequential POST /v1/tasks timed one by one (0: skip)")
	flag.StringVar(&c.pools, "burst-pools", "110,1000", "pool sizes (--db-max-conns, with --db-share-reads=false) of the pool-size alternative, comma-separated (empty: none); "+
		"each runs the bursts that no smaller one of them holds; PostgreSQL's max_connections is raised for them when needed")
	flag.DurationVar(&c.acquireTimeout, "burst-acquire-timeout", 30*time.Second, "taskd's --db-acquire-timeout in the burst runs: long enough that a burst queues for the pool rather than being shed with 503s")
}

// parse reads the comma-separated flags.
func (c burstConfig) parse() (latencies []time.Duration, sizes, pools []int, err error) {
	for _, f := range strings.Split(c.latencies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "0" {
			latencies = append(latencies, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, nil, nil, fmt.Errorf("-burst-latencies: %q is no delay", f)
		}
		latencies = append(latencies, d)
	}
	ints := func(name, list string) ([]int, error) {
		var xs []int
		for _, f := range strings.Split(list, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s: %q is no positive number", name, f)
			}
			xs = append(xs, n)
		}
		slices.Sort(xs)
		return slices.Compact(xs), nil
	}
	if sizes, err = ints("-burst-sizes", c.sizes); err != nil {
		return
	}
	pools, err = ints("-burst-pools", c.pools)
	return
}

// openFiles is what the bursts need of the open-files limit beyond the
// usual: per client connection one descriptor in taskbench and one in
// taskd, per pooled connection two in the proxy and one in taskd.
func (c burstConfig) openFiles() int {
	if !c.on {
		return 0
	}
	_, sizes, pools, err := c.parse()
	if err != nil {
		return 0
	}
	most := max(c.lists, slices.Max(append(sizes, 0)))
	return 2*most + 3*max(slices.Max(append(pools, 0)), most)
}

// burstVariant is one way of running taskd in the burst part.
type burstVariant struct {
	name     string
	args     []string
	maxConns int
	sizes    []int // the get-task bursts it runs
}

// burstStat sums the walls (or the single latencies) of one measurement.
type burstStat struct {
	walls      []time.Duration
	errors     int
	firstError string
	dials      int64 // client connections opened during the measured bursts: should be 0
}

func (s burstStat) median() time.Duration {
	if len(s.walls) == 0 {
		return 0
	}
	w := slices.Sorted(slices.Values(s.walls))
	return w[len(w)/2]
}

func (s burstStat) max() time.Duration {
	if len(s.walls) == 0 {
		return 0
	}
	return slices.Max(s.walls)
}

// burstRun is one variant at one latency.
type burstRun struct {
	gets     map[int]burstStat
	list     *burstStat
	create   *burstStat
	pgConns  int   // taskd's database's client backends after the measurements
	opened   int64 // connections taskd opened through the proxy
	maxConns int
	err      error
}

type burstResults struct {
	shareReads     bool // taskd has --db-share-reads
	maxConnections int  // PostgreSQL's max_connections during the part
	latencies      []time.Duration
	sizes          []int
	variants       []burstVariant
	runs           map[time.Duration]map[string]*burstRun
	cfg            burstConfig
	notes          []string
}

// runBurst runs the burst part; it leaves taskd running with the usual
// flags at the usual latency.
func (b *bench) runBurst(ctx context.Context, bin string) (*burstResults, error) {
	c := b.cfg.extra.burst
	latencies, sizes, pools, err := c.parse()
	if err != nil {
		return nil, err
	}
	r := &burstResults{latencies: latencies, sizes: sizes, cfg: c, runs: map[time.Duration]map[string]*burstRun{}}
	help, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	r.shareReads = strings.Contains(string(help), "-db-share-reads")
	base := []string{"--db-acquire-timeout", c.acquireTimeout.String(), "--shutdown-delay", "0"}
	r.variants = append(r.variants, burstVariant{name: "before", args: append(slices.Clone(base), "--db-share-reads=false"), maxConns: b.cfg.maxConns, sizes: sizes})
	if r.shareReads {
		r.variants = append(r.variants, burstVariant{name: "after", args: base, maxConns: b.cfg.maxConns, sizes: sizes})
	} else {
		// taskd without the flag: today's behaviour is all there is, and
		// the flag would stop it from starting.
		r.variants[0].args = base
		r.notes = append(r.notes, "this taskd has no --db-share-reads (`taskd serve -h`): only the \"before\" variant ran")
	}
	for i, p := range pools {
		v := burstVariant{name: fmt.Sprintf("pool-%d", p), args: slices.Clone(base), maxConns: p}
		if r.shareReads {
			v.args = append(v.args, "--db-share-reads=false")
		}
		for _, n := range sizes {
			// A smaller pool of the list that holds the burst already
			// answers what a larger one would.
			if i == 0 || pools[i-1] < n {
				v.sizes = append(v.sizes, n)
			}
		}
		r.variants = append(r.variants, v)
	}

	// Room for the largest pool, taskd's other connections and ours.
	r.maxConnections = 300
	if want := slices.Max(append(pools, b.cfg.maxConns)) + 50; want > r.maxConnections {
		fmt.Fprintf(os.Stderr, "burst: restarting PostgreSQL with max_connections=%d ...\n", want)
		b.stopTaskd()
		if err := restartPostgres(ctx, b.cluster, want); err != nil {
			return nil, fmt.Errorf("raising max_connections: %w", err)
		}
		r.maxConnections = want
	}
	defer func() {
		b.taskdArgs = nil
		if err := b.restart(ctx, bin, b.cfg.dbLatency, b.cfg.maxConns); err != nil {
			fmt.Fprintf(os.Stderr, "taskbench: burst: restarting taskd: %v\n", err)
		}
	}()
	var user *burstUser
	for _, lat := range latencies {
		r.runs[lat] = map[string]*burstRun{}
		for _, v := range r.variants {
			fmt.Fprintf(os.Stderr, "burst: db %s away each way, taskd %s (%s, pool %d) ...\n", lat, v.name, strings.Join(v.args, " "), v.maxConns)
			b.taskdArgs = v.args
			run := &burstRun{maxConns: v.maxConns, gets: map[int]burstStat{}}
			r.runs[lat][v.name] = run
			if run.err = b.restart(ctx, bin, lat, v.maxConns); run.err != nil {
				continue
			}
			if user == nil {
				// A fresh user, whose quotas the earlier parts have not used.
				s, token, err := b.seedUser(ctx, "burst", b.cfg.tasks)
				if err != nil {
					return nil, fmt.Errorf("seeding the burst user: %w", err)
				}
				user = &burstUser{seed: s, token: token}
			}
			b.burstVariant(ctx, user, v, run)
		}
	}
	return r, nil
}

type burstUser struct {
	seed  seed
	token string
}

// stopTaskd stops taskd and the proxy; restart starts them again.
func (b *bench) stopTaskd() {
	_ = b.taskd.Process.Signal(syscall.SIGTERM)
	_ = b.taskd.Wait()
	b.proxy.close()
}

// burstVariant measures one running taskd.
func (b *bench) burstVariant(ctx context.Context, u *burstUser, v burstVariant, run *burstRun) {
	c := b.cfg.extra.burst
	most := max(c.lists, slices.Max(append(slices.Clone(v.sizes), 1)))
	var dials atomic.Int64
	dialer := &net.Dialer{}
	client := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns: most + 16, MaxIdleConnsPerHost: most + 16, IdleConnTimeout: 5 * time.Minute,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dialer.DialContext(ctx, network, addr)
			},
		},
		Timeout: 2 * time.Minute,
	}
	defer client.CloseIdleConnections()
	rnd := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	req := func(method, path, body string) *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, _ := http.NewRequestWithContext(ctx, method, b.base+path, rd)
		r.Header.Set("Authorization", "Bearer "+u.token)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		return r
	}
	bursts := func(n int, next func() *http.Request) burstStat {
		var s burstStat
		for round := range c.rounds + 1 {
			reqs := make([]*http.Request, n)
			for i := range reqs {
				reqs[i] = next()
			}
			// The client puts a connection back among the idle ones just
			// after its response is read: a pause lets the last ones get
			// there, so that the burst finds them all.
			time.Sleep(100 * time.Millisecond)
			d0 := dials.Load()
			wall, errs, first := fire(client, reqs)
			if round == 0 {
				continue // warm-up: client connections, pool, caches
			}
			s.dials += dials.Load() - d0
			s.walls = append(s.walls, wall)
			s.errors += errs
			if s.firstError == "" {
				s.firstError = first
			}
		}
		return s
	}
	for _, n := range v.sizes {
		run.gets[n] = bursts(n, func() *http.Request {
			return req("GET", fmt.Sprintf("/v1/tasks/%d", pick(rnd, u.seed.taskIDs)), "")
		})
	}
	if c.lists > 0 {
		s := bursts(c.lists, func() *http.Request {
			return req("GET", fmt.Sprintf("/v1/tasks?project_id=%d&limit=50", pick(rnd, u.seed.projects)), "")
		})
		run.list = &s
	}
	if c.creates > 0 {
		var s burstStat
		for i := range c.creates + 1 {
			wall, errs, first := fire(client, []*http.Request{req("POST", "/v1/tasks",
				fmt.Sprintf(`{"project_id": %d, "title": "burst %d"}`, pick(rnd, u.seed.projects), i))})
			if i == 0 {
				continue // warm-up
			}
			s.walls = append(s.walls, wall)
			s.errors += errs
			if s.firstError == "" {
				s.firstError = first
			}
		}
		run.create = &s
	}
	run.opened = b.proxy.opened.Load()
	run.pgConns, run.err = b.taskdBackends(ctx)
}

// fire sends the requests at once, each from its own goroutine, and
// times them from firing to the last response (its body read).
func fire(client *http.Client, reqs []*http.Request) (time.Duration, int, string) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	errs, first := 0, ""
	ends := make([]time.Time, len(reqs))
	for i, r := range reqs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			res, err := client.Do(r)
			problem := ""
			if err == nil {
				if res.StatusCode >= 300 {
					body, _ := io.ReadAll(io.LimitReader(res.Body, 300))
					problem = fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.Path, res.StatusCode, body)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			} else {
				problem = err.Error()
			}
			ends[i] = time.Now()
			if problem != "" {
				mu.Lock()
				errs++
				if first == "" {
					first = problem
				}
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	last := t0
	for _, e := range ends {
		if e.After(last) {
			last = e
		}
	}
	return last.Sub(t0), errs, first
}

// taskdBackends counts PostgreSQL's client backends on taskd's database:
// taskd's connections (taskbench's own are closed by now, and this one
// is on another database).
func (b *bench) taskdBackends(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = 'taskd' AND backend_type = 'client backend'`).Scan(&n)
	return n, err
}

// restartPostgres restarts taskbench's cluster with another
// max_connections, on the same port. The settings are pglocal's (its
// start passes max_connections=300 on the command line, which no
// configuration file overrides), but for max_connections; with taskd
// stopped, nothing else is connected.
func restartPostgres(ctx context.Context, c *pglocal.Cluster, maxConnections int) error {
	binDir, err := pglocal.BinDir()
	if err != nil {
		return err
	}
	settings := strings.Join([]string{
		"-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-k", c.Dir,
		"-c", fmt.Sprintf("max_connections=%d", maxConnections),
	}, " ")
	args := []string{filepath.Join(binDir, "pg_ctl"), "restart", "-w", "-t", "60", "-m", "fast", "-D", c.Dir,
		"-l", filepath.Join(c.Dir, "server.log"), "-o", settings}
	if os.Geteuid() == 0 {
		// As pglocal does: the server runs as the postgres OS user.
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = os.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl restart: %v\n%s", err, out)
	}
	return nil
}

func printBurst(w io.Writer, r *burstResults) {
	if r == nil {
		return
	}
	c := r.cfg
	fmt.Fprintf(w, "\nBursts of concurrent requests, fired at once over warmed keep-alive connections; wall time from firing to the last response, "+
		"median / max of %d bursts after a warm-up one, in ms, and in round trips to the database (ms / 2 x delay) when it is away; "+
		"taskd pool %d unless pool-N, --db-acquire-timeout %s, rate limits off, PostgreSQL max_connections %d:\n\n",
		c.rounds, r.variants[0].maxConns, c.acquireTimeout, r.maxConnections)
	for _, n := range r.notes {
		fmt.Fprintf(w, "Note: %s\n\n", n)
	}
	head := []string{"db delay", "requests"}
	for _, v := range r.variants {
		head = append(head, v.name+" median / max")
	}
	head = append(head, "errors")
	cell := func(s *burstStat, lat time.Duration) string {
		if s == nil || len(s.walls) == 0 {
			return "-"
		}
		med, mx := s.median(), s.max()
		txt := fmt.Sprintf("%.1f / %.1f", ms(med), ms(mx))
		if lat > 0 {
			rt := float64(2 * lat)
			txt += fmt.Sprintf(" (%.1f / %.1f RT)", float64(med)/rt, float64(mx)/rt)
		}
		return txt
	}
	var rows [][]string
	row := func(lat time.Duration, what string, get func(*burstRun) *burstStat) {
		line := []string{lat.String(), what}
		var errs []string
		for _, v := range r.variants {
			run := r.runs[lat][v.name]
			var s *burstStat
			if run != nil {
				s = get(run)
			}
			line = append(line, cell(s, lat))
			if s == nil {
				errs = append(errs, "-")
			} else {
				errs = append(errs, strconv.Itoa(s.errors))
			}
		}
		rows = append(rows, append(line, strings.Join(errs, "/")))
	}
	for _, lat := range r.latencies {
		for _, n := range r.sizes {
			row(lat, fmt.Sprintf("get-task x%d", n), func(run *burstRun) *burstStat {
				if s, ok := run.gets[n]; ok {
					return &s
				}
				return nil
			})
		}
		if c.lists > 0 {
			row(lat, fmt.Sprintf("list-project x%d", c.lists), func(run *burstRun) *burstStat { return run.list })
		}
		if c.creates > 0 {
			row(lat, fmt.Sprintf("create-task x1, %d in turn", c.creates), func(run *burstRun) *burstStat { return run.create })
		}
	}
	table(w, head, rows)
	if c.creates > 0 {
		fmt.Fprintf(w, "\n(create-task: median / max of %d sequential creates, each timed alone.)\n", c.creates)
	}

	fmt.Fprintf(w, "\nPostgreSQL connections of taskd after those requests (client backends of its database in pg_stat_activity; "+
		"in brackets, connections taskd opened through the proxy since it started):\n\n")
	head = []string{"db delay"}
	for _, v := range r.variants {
		head = append(head, fmt.Sprintf("%s (pool %d)", v.name, v.maxConns))
	}
	rows = nil
	for _, lat := range r.latencies {
		line := []string{lat.String()}
		for _, v := range r.variants {
			txt := "-"
			if run := r.runs[lat][v.name]; run != nil && run.err == nil {
				txt = fmt.Sprintf("%d (%d)", run.pgConns, run.opened)
			}
			line = append(line, txt)
		}
		rows = append(rows, line)
	}
	table(w, head, rows)
	for _, lat := range r.latencies {
		for _, v := range r.variants {
			run := r.runs[lat][v.name]
			if run == nil {
				continue
			}
			if run.err != nil {
				fmt.Fprintf(w, "\nburst, %s, %s: %v\n", lat, v.name, run.err)
			}
			stats := []*burstStat{run.list, run.create}
			for _, n := range r.sizes {
				if s, ok := run.gets[n]; ok {
					stats = append(stats, &s)
				}
			}
			var dials int64
			for _, s := range stats {
				if s == nil {
					continue
				}
				dials += s.dials
				if s.errors > 0 {
					fmt.Fprintf(w, "\nburst, %s, %s: first error: %s\n", lat, v.name, s.firstError)
					break
				}
			}
			if dials > 0 {
				fmt.Fprintf(w, "\nburst, %s, %s: the client opened %d connections during measured bursts (should be 0)\n", lat, v.name, dials)
			}
		}
	}
}

// table prints a markdown table, each column as wide as its widest cell;
// the first column is right-aligned, the others left-aligned.
func table(w io.Writer, head []string, rows [][]string) {
	widths := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		out := "|"
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				out += " " + pad + c + " |"
			} else {
				out += " " + c + pad + " |"
			}
		}
		fmt.Fprintln(w, out)
	}
	line(head)
	sep := "|"
	for _, n := range widths {
		sep += dash(n+2) + "|"
	}
	fmt.Fprintln(w, sep)
	for _, r := range rows {
		line(r)
	}
}
