// Package cluster runs taskd scaled out on real parts, on this machine:
// one PostgreSQL (internal/pglocal), PgBouncer in front of it in
// transaction pooling mode, several `taskd serve` replicas that query
// through PgBouncer and LISTEN and migrate over a direct connection, and
// HAProxy balancing requests across the replicas, health-checking each
// one's /readyz. `make cluster` starts one under ./.data/cluster and
// leaves it running (cmd/taskcluster); the scale test starts its own in a
// temporary directory, on free ports.
//
// Every part listens on 127.0.0.1 only. PostgreSQL and PgBouncer refuse
// to run as root: when this process is root they run as the `postgres`
// OS user, as internal/pglocal does.
package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskd/internal/pglocal"
)

// Ports are where the parts listen, all on 127.0.0.1.
type Ports struct {
	Postgres  int
	PgBouncer int
	HAProxy   int   // the API, balanced
	Stats     int   // HAProxy's statistics page (/; /;csv for machines)
	Replicas  []int // each taskd replica, directly
}

// DefaultPorts are `make cluster`'s (the README lists them): below the
// ephemeral range (32768 and up on Linux), so that the free ports the
// tests pick never take them.
func DefaultPorts(replicas int) Ports {
	p := Ports{Postgres: 15432, PgBouncer: 16432, HAProxy: 18080, Stats: 18404}
	for i := range replicas {
		p.Replicas = append(p.Replicas, 18081+i)
	}
	return p
}

// Config describes a cluster.
type Config struct {
	// Dir holds everything: the PostgreSQL data directory, configuration
	// files, logs (log/) and process ids (run/).
	Dir string
	// Taskd is the taskd binary the replicas run.
	Taskd string
	// Replicas is how many taskd processes serve (default 3).
	Replicas int
	// Ports; zero ones are picked free.
	Ports Ports
	// ShutdownDelay is the replicas' SHUTDOWN_DELAY: how long /readyz
	// fails after SIGTERM before the listener closes. It must exceed the
	// time HAProxy takes to see it (fall × inter: 2 × 250 ms here).
	// Default 2 s.
	ShutdownDelay time.Duration
	// Env is more environment for the replicas (RATE_LIMIT=…), after the
	// cluster's own.
	Env []string
	// Throwaway turns PostgreSQL's durability off: for tests.
	Throwaway bool
	// Log receives progress lines; nil: none.
	Log io.Writer
}

// Cluster is a running cluster.
type Cluster struct {
	Config
	// DirectURL reaches PostgreSQL itself, PooledURL goes through
	// PgBouncer (both to the taskd database); AdminURL is PgBouncer's
	// console (SHOW POOLS, SHOW STATS).
	DirectURL, PooledURL, AdminURL string
	// API is the balanced API's base URL (HAProxy); StatsURL is HAProxy's
	// statistics page.
	API, StatsURL string
	Replicas      []*Replica

	pg        *pglocal.Cluster
	pgbouncer *proc
	haproxy   *proc
	webhook   string // WEBHOOK_SECRET_KEY, the same for every replica
}

// Replica is one taskd process.
type Replica struct {
	Name string // taskd1, taskd2, … (HAProxy's server name too)
	URL  string // its own base URL, bypassing HAProxy
	c    *Cluster
	p    *proc
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}

// Start starts every part, in order: PostgreSQL, PgBouncer, the replicas
// all at once (they race to migrate an empty database; one does, under
// taskd's advisory lock), and HAProxy once each replica is ready. It
// returns when HAProxy sees every replica up. On error, what was started
// is stopped again.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 3
	}
	if cfg.ShutdownDelay <= 0 {
		cfg.ShutdownDelay = 2 * time.Second
	}
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, err
	}
	if cfg.Taskd, err = filepath.Abs(cfg.Taskd); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Taskd); err != nil {
		return nil, fmt.Errorf("the taskd binary: %w", err)
	}
	if err := cfg.freePorts(); err != nil {
		return nil, err
	}
	// The parts that run as the postgres OS user must reach the directory.
	for _, d := range []string{cfg.Dir, filepath.Join(cfg.Dir, "log"), filepath.Join(cfg.Dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	c = &Cluster{Config: cfg}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()

	start := time.Now()
	c.pg, err = pglocal.Start(ctx, filepath.Join(cfg.Dir, "postgres"), pglocal.Options{Port: cfg.Ports.Postgres, Throwaway: cfg.Throwaway})
	if err != nil {
		return c, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	c.Ports.Postgres = c.pg.Port
	c.DirectURL = c.pg.URL("taskd")
	c.PooledURL = withPort(c.DirectURL, c.Ports.PgBouncer)
	c.AdminURL = withPath(c.PooledURL, "/pgbouncer")
	c.logf("PostgreSQL    127.0.0.1:%d  (%s)", c.Ports.Postgres, time.Since(start).Round(time.Millisecond))

	if err := c.startPgBouncer(ctx); err != nil {
		return c, err
	}
	c.logf("PgBouncer     127.0.0.1:%d  (transaction pooling)", c.Ports.PgBouncer)

	if c.webhook, err = c.webhookKey(); err != nil {
		return c, err
	}
	for i := range cfg.Replicas {
		port := c.Ports.Replicas[i]
		r := &Replica{Name: "taskd" + strconv.Itoa(i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", port), c: c}
		c.Replicas = append(c.Replicas, r)
	}
	// All at once, as an orchestrator starting a deployment would.
	for _, r := range c.Replicas {
		if err := r.spawn(); err != nil {
			return c, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Replicas))
	for i, r := range c.Replicas {
		wg.Go(func() { errs[i] = r.waitReady(ctx, time.Minute) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	for _, r := range c.Replicas {
		c.logf("%-13s %s", r.Name, strings.TrimPrefix(r.URL, "http://"))
	}

	if err := c.startHAProxy(ctx); err != nil {
		return c, err
	}
	c.API = fmt.Sprintf("http://127.0.0.1:%d", c.Ports.HAProxy)
	c.StatsURL = fmt.Sprintf("http://127.0.0.1:%d/", c.Ports.Stats)
	for _, r := range c.Replicas {
		if err := c.WaitBalanced(ctx, r.Name, true, 30*time.Second); err != nil {
			return c, err
		}
	}
	c.logf("HAProxy       %s  (statistics: %s)", strings.TrimPrefix(c.API, "http://"), c.StatsURL)
	return c, nil
}

// freePorts fills in the zero ports.
func (cfg *Config) freePorts() error {
	ports := []*int{&cfg.Ports.PgBouncer, &cfg.Ports.HAProxy, &cfg.Ports.Stats}
	for len(cfg.Ports.Replicas) < cfg.Replicas {
		cfg.Ports.Replicas = append(cfg.Ports.Replicas, 0)
	}
	for i := range cfg.Ports.Replicas {
		ports = append(ports, &cfg.Ports.Replicas[i])
	}
	// Several listeners held open at once, so no two get the same port.
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for _, p := range ports {
		if *p != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		open = append(open, l)
		*p = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// Stop stops every part this process started, HAProxy first and
// PostgreSQL last. It can be called more than once.
func (c *Cluster) Stop() {
	if c.haproxy != nil {
		_ = c.haproxy.stop(10 * time.Second)
	}
	var wg sync.WaitGroup
	for _, r := range c.Replicas {
		wg.Go(func() { _ = r.Stop() })
	}
	wg.Wait()
	if c.pgbouncer != nil {
		_ = c.pgbouncer.stop(10 * time.Second)
	}
	if c.pg != nil {
		_ = c.pg.Stop()
	}
}

// Postgres is the PostgreSQL cluster underneath.
func (c *Cluster) Postgres() *pglocal.Cluster { return c.pg }

// Log is the path of a part's log file: postgres, pgbouncer, haproxy or
// a replica's name.
func (c *Cluster) Log(name string) string {
	if name == "postgres" {
		return filepath.Join(c.Dir, "postgres", "server.log")
	}
	return filepath.Join(c.Dir, "log", name+".log")
}

// postgresUser is the OS user PostgreSQL and PgBouncer run as when this
// process is root; nil otherwise.
func postgresUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return user.Lookup("postgres")
}

// writeOwned writes a file that the postgres OS user (when we are root)
// owns and only it can read.
func writeOwned(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	u, err := postgresUser()
	if err != nil || u == nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// PgBouncer: transaction pooling, SCRAM both ways. The user list holds
// the cluster's password in plain text, as pglocal's password file does
// (readable by PgBouncer's OS user only): PgBouncer checks clients'
// SCRAM against it and answers PostgreSQL's SCRAM challenge with it. A
// SCRAM secret in its place would also work, PgBouncer then reusing the
// keys of each client's own SCRAM exchange to log in to the server.
const pgbouncerIni = `; Written by internal/cluster: regenerated on every start.
[databases]
taskd = host=127.0.0.1 port={{postgres}} dbname=taskd

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {{pgbouncer}}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {{dir}}/pgbouncer-users.txt
admin_users = postgres
stats_users = postgres
pool_mode = transaction
; Server connections per database and user, shared by every replica.
default_pool_size = 20
max_client_conn = 1000
; Session pooling would reset with this; transaction pooling never does.
server_reset_query = DISCARD ALL
; Quicker reconnection to PostgreSQL after it restarts.
server_login_retry = 1
; One line per client login is too many: errors only.
log_connections = 0
log_disconnections = 0
`

func (c *Cluster) startPgBouncer(ctx context.Context) error {
	ini := strings.NewReplacer("{{postgres}}", strconv.Itoa(c.Ports.Postgres), "{{pgbouncer}}", strconv.Itoa(c.Ports.PgBouncer),
		"{{dir}}", c.Dir).Replace(pgbouncerIni)
	path := filepath.Join(c.Dir, "pgbouncer.ini")
	if err := writeOwned(path, []byte(ini)); err != nil {
		return err
	}
	users := fmt.Sprintf("%q %q\n", "postgres", c.pg.Password())
	if err := writeOwned(filepath.Join(c.Dir, "pgbouncer-users.txt"), []byte(users)); err != nil {
		return err
	}
	bin, err := lookPath("pgbouncer")
	if err != nil {
		return err
	}
	args := []string{bin}
	if u, _ := postgresUser(); u != nil {
		args = append(args, "-u", u.Username) // PgBouncer refuses to run as root
	}
	c.pgbouncer = &proc{name: "pgbouncer", args: append(args, path), dir: c.Dir, logPath: c.Log("pgbouncer"), pidPath: c.pidPath("pgbouncer")}
	if err := c.pgbouncer.start(); err != nil {
		return err
	}
	return c.pgbouncer.waitPort(ctx, c.Ports.PgBouncer, 10*time.Second)
}

// HAProxy: round robin over the replicas; /readyz checked every 250 ms,
// two failures take a replica out and two successes bring it back. A
// connection refused (a replica between its listener closing and
// HAProxy noticing, which SHUTDOWN_DELAY is there to prevent) is retried
// on another replica. Requests are never retried once sent: a POST
// could apply twice.
const haproxyCfg = `# Written by internal/cluster: regenerated on every start.
global
    maxconn 4096

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    timeout check 1s
    retries 3
    option redispatch 1

frontend api
    bind 127.0.0.1:{{haproxy}}
    option forwardfor
    default_backend taskd

backend taskd
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server check inter 250ms fall 2 rise 2
{{servers}}
listen stats
    bind 127.0.0.1:{{stats}}
    stats enable
    stats uri /
    stats refresh 2s
`

func (c *Cluster) startHAProxy(ctx context.Context) error {
	var servers strings.Builder
	for _, r := range c.Replicas {
		fmt.Fprintf(&servers, "    server %s %s\n", r.Name, strings.TrimPrefix(r.URL, "http://"))
	}
	cfg := strings.NewReplacer("{{haproxy}}", strconv.Itoa(c.Ports.HAProxy), "{{stats}}", strconv.Itoa(c.Ports.Stats),
		"{{servers}}", servers.String()).Replace(haproxyCfg)
	path := filepath.Join(c.Dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	bin, err := lookPath("haproxy")
	if err != nil {
		return err
	}
	// -db: stay in the foreground (this package keeps its process id).
	c.haproxy = &proc{name: "haproxy", args: []string{bin, "-db", "-f", path}, dir: c.Dir, logPath: c.Log("haproxy"), pidPath: c.pidPath("haproxy")}
	if err := c.haproxy.start(); err != nil {
		return err
	}
	return c.haproxy.waitPort(ctx, c.Ports.HAProxy, 10*time.Second)
}

// WaitBalanced waits until HAProxy counts the replica in (up) or out.
func (c *Cluster) WaitBalanced(ctx context.Context, name string, up bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		states, err := c.BalancerStates(ctx)
		if err == nil {
			last = states[name]
			if strings.HasPrefix(last, "UP") == up && !strings.Contains(last, "/") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("HAProxy did not see %s %s within %s (state %q, err %v)", name, map[bool]string{true: "up", false: "down"}[up], timeout, last, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// BalancerStates is each replica's state as HAProxy sees it: UP, DOWN,
// or a transition such as "UP 1/2".
func (c *Cluster) BalancerStates(ctx context.Context) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/;csv", c.Ports.Stats), nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	col := -1
	states := map[string]string{}
	for sc.Scan() {
		f := strings.Split(strings.TrimPrefix(sc.Text(), "# "), ",")
		if col < 0 {
			for i, name := range f {
				if name == "status" {
					col = i
				}
			}
			continue
		}
		if len(f) > col && f[0] == "taskd" && f[1] != "BACKEND" {
			states[f[1]] = f[col]
		}
	}
	if col < 0 {
		return nil, errors.New("HAProxy's CSV statistics have no status column")
	}
	return states, sc.Err()
}

// webhookKey is the key that seals webhook secrets, made once per
// cluster directory: every replica must have the same.
func (c *Cluster) webhookKey() (string, error) {
	path := filepath.Join(c.Dir, "webhook-secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := base64.StdEncoding.EncodeToString(key)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

func (r *Replica) env() []string {
	c := r.c
	env := append(os.Environ(),
		"DATABASE_URL="+c.PooledURL,
		"DATABASE_DIRECT_URL="+c.DirectURL,
		"DATABASE_POOLER=transaction",
		"ADDR="+strings.TrimPrefix(r.URL, "http://"),
		"SHUTDOWN_DELAY="+c.ShutdownDelay.String(),
		"WEBHOOK_SECRET_KEY="+c.webhook,
		// HAProxy adds X-Forwarded-For: the client is who it names.
		"TRUSTED_PROXIES=127.0.0.1",
	)
	return append(env, c.Env...)
}

func (r *Replica) spawn() error {
	r.p = &proc{name: r.Name, args: []string{r.c.Taskd, "serve"}, env: r.env(), dir: r.c.Dir,
		logPath: r.c.Log(r.Name), pidPath: r.c.pidPath(r.Name)}
	return r.p.start()
}

// waitReady waits until the replica's /readyz answers 200.
func (r *Replica) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if r.p.exited() {
			return fmt.Errorf("%s exited while starting: %v\n%s", r.Name, r.p.err, tailFile(r.p.logPath, 15))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/readyz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s:\n%s", r.Name, timeout, tailFile(r.p.logPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends the replica SIGTERM and waits for it to exit: /readyz fails
// at once, requests are served for SHUTDOWN_DELAY more, then in-flight
// ones drain.
func (r *Replica) Stop() error {
	if r.p == nil {
		return nil
	}
	return r.p.stop(time.Minute)
}

// Start starts a stopped replica and waits until it is ready and HAProxy
// balances to it again.
func (r *Replica) Start(ctx context.Context) error {
	if err := r.spawn(); err != nil {
		return err
	}
	if err := r.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	return r.c.WaitBalanced(ctx, r.Name, true, 30*time.Second)
}

// ExitErr is how the replica's last process ended (nil: exit status 0);
// only meaningful once it has.
func (r *Replica) ExitErr() error { return r.p.err }

func (c *Cluster) pidPath(name string) string { return filepath.Join(c.Dir, "run", name+".pid") }

// withPort is u with another port.
func withPort(u string, port int) string {
	p, _ := url.Parse(u)
	p.Host = net.JoinHostPort(p.Hostname(), strconv.Itoa(port))
	return p.String()
}

// withPath is u with another path (database).
func withPath(u, path string) string {
	p, _ := url.Parse(u)
	p.Path = path
	return p.String()
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install it (`make cluster` does, as root, from Debian's packages)", name)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// tailFile is the last n lines of a log, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return path + ":\n" + strings.Join(lines, "\n")
}
