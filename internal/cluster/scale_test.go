package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"taskd/internal/cluster"
)

// TestScale runs taskd as `make cluster` does — one PostgreSQL, PgBouncer
// in transaction pooling mode, three replicas, HAProxy in front checking
// /readyz — and checks what scaling out must not break:
//
//   - three replicas started at once on an empty database migrate it
//     once, and all come up;
//   - a rolling restart (each replica SIGTERMed and started again in
//     turn) under a small steady load answers no request with a 5xx or a
//     broken connection, and every create it acknowledged is in the
//     database afterwards; every webhook event of those creates reaches
//     the receiver exactly once, whichever replica delivered it;
//   - a token revoked through one replica is refused by the others
//     within a second;
//   - a change stream on one replica receives a change made through
//     another.
//
// It takes about 35 s and starts seven processes, so it runs only
// when TASKD_SCALE_TEST is set (make scale-test). It needs PostgreSQL's
// server binaries, pgbouncer and haproxy (make cluster-tools).
func TestScale(t *testing.T) {
	if os.Getenv("TASKD_SCALE_TEST") == "" {
		t.Skip("set TASKD_SCALE_TEST=1 to run it (make scale-test)")
	}
	began := time.Now()
	ctx := context.Background()
	bin := buildTaskd(t)

	// Not t.TempDir(): PostgreSQL and PgBouncer run as another OS user
	// when we are root, and must be able to enter the directory.
	dir, err := os.MkdirTemp("", "taskd-scale-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })

	receiver := newReceiver(t)
	var progress bytes.Buffer
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Config{
		Dir: dir, Taskd: bin, Replicas: 3, Throwaway: true, ShutdownDelay: 2 * time.Second, Log: &progress,
		Env: []string{
			"WEBHOOK_ALLOW_PRIVATE=true", // the receiver is on loopback
			"SIGNUP_RATE_LIMIT=0",        // every user signs up from 127.0.0.1
			"WEBHOOK_RETRY_SCHEDULE=1s",
		},
	})
	t.Cleanup(func() {
		if c != nil {
			c.Stop()
		}
	})
	require.NoError(t, err, "starting the cluster")
	t.Logf("cluster up in %s:\n%s", time.Since(start).Round(time.Millisecond), progress.String())
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"taskd1", "taskd2", "taskd3", "pgbouncer", "haproxy"} {
				t.Logf("%s", tail(c.Log(name), 30))
			}
		}
	})
	db, err := pgx.Connect(ctx, c.DirectURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close(context.Background()) })

	t.Run("MigrationsRaced", func(t *testing.T) {
		applied, upToDate := 0, 0
		for _, r := range c.Replicas {
			log := readFile(t, c.Log(r.Name))
			applied += strings.Count(log, `"msg":"migrations applied"`)
			upToDate += strings.Count(log, `"msg":"database schema up to date"`)
			require.NotContains(t, log, `"level":"ERROR"`, r.Name)
		}
		files, err := filepath.Glob("../../db/migrations/*.sql")
		require.NoError(t, err)
		var versions int
		require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&versions))
		t.Logf("3 replicas started at once on an empty database: %d migrated (%d migrations), %d found the schema up to date, all ready",
			applied, versions, upToDate)
		require.Equal(t, 1, applied, "exactly one replica applied the migrations")
		require.Equal(t, 2, upToDate)
		require.Equal(t, len(files), versions)
	})

	t.Run("RollingRestartUnderLoad", func(t *testing.T) {
		before := pgbouncerTransactions(t, c)
		const workers = 4
		users := make([]user, workers)
		for i := range users {
			users[i] = signUp(t, c.API, fmt.Sprintf("load%d", i))
			code, _ := call(t, c.API, "POST", "/v1/webhooks", users[i].token,
				fmt.Sprintf(`{"url":%q,"events":["project.created"]}`, receiver.url))
			require.Equal(t, 201, code)
		}
		l := startLoad(c.API, users)
		time.Sleep(2 * time.Second) // the load runs on all three first

		restartStart := time.Now()
		for _, r := range c.Replicas {
			t0 := time.Now()
			require.NoError(t, r.Stop(), "%s after SIGTERM", r.Name)
			stopped := time.Since(t0)
			require.NoError(t, r.ExitErr(), "%s exits 0 after SIGTERM", r.Name)
			t1 := time.Now()
			require.NoError(t, r.Start(ctx), "restarting %s", r.Name)
			t.Logf("%s: SIGTERM to exit %s (SHUTDOWN_DELAY 2s, then drain); start to ready and balanced again %s",
				r.Name, stopped.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
			time.Sleep(time.Second)
		}
		restartTook := time.Since(restartStart)
		time.Sleep(time.Second)
		res := l.stop()

		t.Logf("rolling restart of 3 replicas took %s under %d workers: %d requests (%.0f/s), statuses %v, transport errors %d; "+
			"latency during the restart p50 %s, p99 %s, max %s",
			restartTook.Round(time.Millisecond), workers, res.requests, float64(res.requests)/res.elapsed.Seconds(), res.statuses, len(res.errors),
			res.p(0.50), res.p(0.99), res.p(1))
		require.Empty(t, res.errors, "requests that got no answer")
		for code := range res.statuses {
			require.Less(t, code, 500, "a request answered %d", code)
		}

		acked := 0
		for i, u := range users {
			ids := res.created[i]
			acked += len(ids)
			var found int
			require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM projects WHERE user_id = $1 AND id = ANY($2)", u.id, ids).Scan(&found))
			require.Equal(t, len(ids), found, "%s: every acknowledged create is in the database", u.name)
		}
		t.Logf("acknowledged creates: %d, all found in SQL", acked)
		require.Greater(t, acked, 100, "the load did some work")

		// Webhooks: one project.created event per acknowledged create,
		// each received once.
		deadline := time.Now().Add(30 * time.Second)
		for receiver.distinct() < acked && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // a duplicate would come now
		distinct, dup, projects := receiver.summary()
		t.Logf("webhooks: %d events received for %d acknowledged creates, %d delivered more than once", distinct, acked, dup)
		require.Zero(t, dup, "every webhook event is delivered once")
		for i := range users {
			for _, id := range res.created[i] {
				require.True(t, projects[id], "project %d's event arrived", id)
			}
		}
		require.Equal(t, acked, distinct)

		after := pgbouncerTransactions(t, c)
		t.Logf("PgBouncer carried %d transactions during the load", after-before)
		require.Greater(t, after-before, int64(acked))

		// Nothing session-level stuck to PgBouncer's server connections:
		// the task list's SET plan_cache_mode runs with its RESET in one
		// implicit transaction.
		var wg sync.WaitGroup
		modes := make([]string, 40)
		for i := range modes {
			wg.Go(func() {
				conn, err := pgx.Connect(ctx, c.PooledURL+"&default_query_exec_mode=simple_protocol")
				if err != nil {
					modes[i] = err.Error()
					return
				}
				defer conn.Close(ctx)
				if err := conn.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&modes[i]); err != nil {
					modes[i] = err.Error()
				}
			})
		}
		wg.Wait()
		for _, m := range modes {
			require.Equal(t, "auto", m, "plan_cache_mode on a pooled server connection")
		}
	})

	t.Run("RevocationAcrossReplicas", func(t *testing.T) {
		r1, others := c.Replicas[0], c.Replicas[1:]
		u := signUp(t, r1.URL, "revoker")
		code, body := call(t, r1.URL, "POST", "/v1/tokens", u.token, `{"name":"second"}`)
		require.Equal(t, 201, code)
		second, id := body["token"].(string), int64(body["id"].(float64))
		for range 3 { // each replica caches it
			for _, r := range others {
				code, _ := call(t, r.URL, "GET", "/v1/me", second, "")
				require.Equal(t, 200, code)
			}
		}
		sent := time.Now()
		code, _ = call(t, r1.URL, "DELETE", fmt.Sprintf("/v1/tokens/%d", id), u.token, "")
		require.Equal(t, 204, code)
		acked := time.Now()
		for _, r := range others {
			tries := 0
			for {
				tries++
				code, _ := call(t, r.URL, "GET", "/v1/me", second, "")
				if code == 401 {
					break
				}
				require.Equal(t, 200, code)
				require.Less(t, time.Since(acked), time.Second, "%s still accepts the revoked token", r.Name)
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("revoked through %s: %s refuses it %s after the 204 (%s after the DELETE was sent; %d request(s))",
				r1.Name, r.Name, time.Since(acked).Round(time.Microsecond), time.Since(sent).Round(time.Microsecond), tries)
		}
	})

	t.Run("StreamAcrossReplicas", func(t *testing.T) {
		u := signUp(t, c.API, "streamer")
		for i, on := range c.Replicas {
			through := c.Replicas[(i+1)%len(c.Replicas)]
			_, body := call(t, on.URL, "GET", "/v1/changes/cursor", u.token, "")
			events := openStream(t, on.URL, u.token, body["cursor"].(string))
			sent := time.Now()
			code, created := call(t, through.URL, "POST", "/v1/projects", u.token, fmt.Sprintf(`{"name":"streamed %d"}`, i))
			require.Equal(t, 201, code)
			want := int64(created["id"].(float64))
			select {
			case ev := <-events:
				require.Equal(t, "project", ev.Type)
				require.Equal(t, want, ev.ID)
				t.Logf("stream on %s received the project created through %s %s after the POST was sent",
					on.Name, through.Name, time.Since(sent).Round(time.Microsecond))
			case <-time.After(5 * time.Second):
				t.Fatalf("stream on %s did not receive the project created through %s", on.Name, through.Name)
			}
		}
	})
	t.Logf("scale test took %s (the taskd build included)", time.Since(began).Round(time.Second))
}

func buildTaskd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "taskd")
	out, err := exec.Command("go", "build", "-o", bin, "taskd/cmd/taskd").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

type user struct {
	id    int64
	name  string
	token string
}

func signUp(t *testing.T, base, name string) user {
	t.Helper()
	code, body := call(t, base, "POST", "/v1/users", "", fmt.Sprintf(`{"name":%q}`, name))
	require.Equal(t, 201, code, "%v", body)
	u := body["user"].(map[string]any)
	return user{id: int64(u["id"].(float64)), name: name, token: body["token"].(string)}
}

var client = &http.Client{Timeout: 10 * time.Second}

func call(t *testing.T, base, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	code, m, err := do(client, base, method, path, token, body)
	require.NoError(t, err)
	return code, m
}

func do(c *http.Client, base, method, path, token, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

// load is a small steady load through HAProxy: each worker creates a
// project, reads it back and lists tasks (the query with custom plans),
// then pauses, so about 30 requests a second per worker.
type load struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	res      loadResult
	began    time.Time
}

type loadResult struct {
	requests  int
	statuses  map[int]int
	errors    []error
	created   [][]int64 // per worker, the ids of acknowledged creates
	latencies []time.Duration
	elapsed   time.Duration
}

func (r loadResult) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return s[i].Round(100 * time.Microsecond)
}

func startLoad(base string, users []user) *load {
	l := &load{began: time.Now()}
	l.res.statuses = map[int]int{}
	l.res.created = make([][]int64, len(users))
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for i, u := range users {
		l.wg.Go(func() {
			for n := 0; !l.stopping.Load(); n++ {
				code, body := l.request(c, base, "POST", "/v1/projects", u.token, fmt.Sprintf(`{"name":"p%d"}`, n))
				if code == 201 {
					id := int64(body["id"].(float64))
					l.mu.Lock()
					l.res.created[i] = append(l.res.created[i], id)
					l.mu.Unlock()
					l.request(c, base, "GET", fmt.Sprintf("/v1/projects/%d", id), u.token, "")
				}
				l.request(c, base, "GET", "/v1/tasks?status=todo&limit=10", u.token, "")
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *load) request(c *http.Client, base, method, path, token, body string) (int, map[string]any) {
	t0 := time.Now()
	code, m, err := do(c, base, method, path, token, body)
	d := time.Since(t0)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.requests++
	l.res.latencies = append(l.res.latencies, d)
	if err != nil {
		l.res.errors = append(l.res.errors, fmt.Errorf("%s %s: %w", method, path, err))
		return 0, nil
	}
	l.res.statuses[code]++
	return code, m
}

func (l *load) stop() loadResult {
	l.stopping.Store(true)
	l.wg.Wait()
	l.res.elapsed = time.Since(l.began)
	return l.res
}

// receiver is a webhook endpoint that counts each event id.
type receiver struct {
	url      string
	mu       sync.Mutex
	seen     map[string]int
	projects map[int64]bool
}

func newReceiver(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", seen: map[string]int{}, projects: map[int64]bool{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev struct {
			Data struct {
				ID int64 `json:"id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(req.Body).Decode(&ev)
		r.mu.Lock()
		r.seen[req.Header.Get("webhook-id")]++
		r.projects[ev.Data.ID] = true
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *receiver) summary() (distinct, duplicated int, projects map[int64]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		if n > 1 {
			duplicated++
		}
	}
	return len(r.seen), duplicated, r.projects
}

type change struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

// openStream follows a change stream and sends its events; it returns
// once the stream has started.
func openStream(t *testing.T, base, token, since string) <-chan change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/changes/stream?since="+since, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	events := make(chan change, 16)
	started := make(chan struct{})
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		first := true
		for sc.Scan() {
			if first {
				close(started)
				first = false
			}
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var c change
				if json.Unmarshal([]byte(data), &c) == nil {
					events <- c
				}
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not start")
	}
	return events
}

// pgbouncerTransactions is PgBouncer's count of transactions it pooled
// for the taskd database (its admin console speaks the simple protocol
// only).
func pgbouncerTransactions(t *testing.T, c *cluster.Cluster) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.AdminURL+"&default_query_exec_mode=simple_protocol")
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW STATS")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		names := rows.FieldDescriptions()
		row := map[string]any{}
		for i, f := range names {
			row[f.Name] = vals[i]
		}
		if row["database"] == "taskd" {
			switch n := row["total_xact_count"].(type) {
			case int64:
				return n
			case pgtype.Numeric:
				v, err := n.Int64Value()
				require.NoError(t, err)
				return v.Int64
			default:
				t.Fatalf("total_xact_count is a %T", n)
			}
		}
	}
	require.NoError(t, rows.Err())
	t.Fatal("SHOW STATS has no taskd row")
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "---- " + path + ":\n" + strings.Join(lines, "\n")
}
