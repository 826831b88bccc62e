package main

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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// buildOnce builds taskd once for the tests that run it as a process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "taskd-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "taskd")
	if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return path, nil
})

func binary(t *testing.T) string {
	t.Helper()
	path, err := buildOnce()
	require.NoError(t, err)
	return path
}

// process is a running `taskd serve`.
type process struct {
	cmd  *exec.Cmd
	base string // http://host:port
	done chan error
	logs *bytes.Buffer
}

// startServe runs `taskd serve` on a free port with env added to the
// environment and waits until it says where it serves.
func startServe(t *testing.T, dir string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0")
	cmd.Dir = dir
	// No shutdown delay unless a test asks for one (the last value wins).
	cmd.Env = append(append(os.Environ(), "SHUTDOWN_DELAY=0"), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &process{cmd: cmd, done: make(chan error, 1), logs: &bytes.Buffer{}}
	cmd.Stderr = p.logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { p.done <- cmd.Wait() }()
	serving := regexp.MustCompile(`serving the API at (http://\S+)/v1 \(interactive docs: http://\S+/docs\)`)
	select {
	case line := <-lines:
		m := serving.FindStringSubmatch(line)
		require.NotNil(t, m, "first line: %q; logs: %s", line, p.logs)
		p.base = m[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("taskd serve did not start; logs: %s", p.logs)
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// stop sends SIGTERM and returns the exit error.
func (p *process) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatalf("taskd did not exit after SIGTERM; logs: %s", p.logs)
		return nil
	}
}

func (p *process) call(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m
}

// The README's walk-through against the real binary, then a clean stop.
func TestServeWalkThroughAndSIGTERM(t *testing.T) {
	t.Parallel()
	p := startServe(t, t.TempDir(), "DATABASE_URL="+testdb.URL(t))

	code, _ := p.call(t, "GET", "/healthz", "", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = p.call(t, "GET", "/readyz", "", "")
	require.Equal(t, http.StatusOK, code)

	code, body := p.call(t, "POST", "/v1/users", "", `{"name": "alice"}`)
	require.Equal(t, http.StatusCreated, code)
	token := body["token"].(string)
	code, _ = p.call(t, "POST", "/v1/projects", token, `{"name": "Home"}`)
	require.Equal(t, http.StatusCreated, code)
	code, body = p.call(t, "GET", "/v1/projects", token, "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 1)

	require.NoError(t, p.stop(t), "exit status after SIGTERM; logs: %s", p.logs)
	require.Contains(t, p.logs.String(), "draining")
}

// Without DATABASE_URL, serve starts a local cluster under ./.data and
// stops it on exit; a second start reuses the data.
func TestServeStartsItsOwnPostgres(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "taskd-serve-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))

	p := startServe(t, dir, "DATABASE_URL=")
	code, body := p.call(t, "POST", "/v1/users", "", `{"name": "alice"}`)
	require.Equal(t, http.StatusCreated, code)
	token := body["token"].(string)
	require.NoError(t, p.stop(t), "logs: %s", p.logs)
	require.NoFileExists(t, filepath.Join(dir, ".data/postgres/postmaster.pid"), "the cluster is stopped on exit")

	p = startServe(t, dir, "DATABASE_URL=")
	code, body = p.call(t, "GET", "/v1/me", token, "")
	require.Equal(t, http.StatusOK, code, "the data survives a restart")
	require.Equal(t, "alice", body["name"])
	require.NoError(t, p.stop(t), "logs: %s", p.logs)
}

func TestUserCreatePrintsAWorkingToken(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	cmd := exec.Command(binary(t), "user", "create", "carol")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	token := strings.TrimSpace(string(out))
	require.True(t, strings.HasPrefix(token, "taskd_"), "stdout is the token alone: %q", out)

	// Works even where open sign-up is off.
	p := startServe(t, t.TempDir(), "DATABASE_URL="+url, "OPEN_SIGNUP=false")
	code, body := p.call(t, "GET", "/v1/me", token, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "carol", body["name"])
	code, _ = p.call(t, "POST", "/v1/users", "", `{"name": "dave"}`)
	require.Equal(t, http.StatusForbidden, code)
	require.NoError(t, p.stop(t))

	// A second user of the same name is refused with a message.
	cmd = exec.Command(binary(t), "user", "create", "CAROL")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "already exists")
}

func TestMigrateAndUsageErrors(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run("migrate", "status")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "[X] 20261126000000_schema.sql")

	out, code = run("bogus")
	require.Equal(t, 2, code)
	require.Contains(t, out, "unknown command")
	out, code = run("serve", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "DATABASE_URL")
	out, code = run("migrate", "sideways")
	require.Equal(t, 2, code, out)

	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL=mysql://nope")
	bad, _ := cmd.CombinedOutput()
	require.Equal(t, 1, cmd.ProcessState.ExitCode())
	require.Contains(t, string(bad), "DATABASE_URL must look like postgres://")
}

// From SIGTERM on, /readyz answers 503 for SHUTDOWN_DELAY while the API
// still answers, so a load balancer stops sending before the listener
// closes; then taskd drains and exits 0.
func TestReadyzFailsDuringTheShutdownDelay(t *testing.T) {
	t.Parallel()
	p := startServe(t, t.TempDir(), "DATABASE_URL="+testdb.URL(t), "SHUTDOWN_DELAY=2s")
	code, body := p.call(t, "POST", "/v1/users", "", `{"name": "alice"}`)
	require.Equal(t, http.StatusCreated, code)
	token := body["token"].(string)
	code, _ = p.call(t, "GET", "/readyz", "", "")
	require.Equal(t, http.StatusOK, code)

	sent := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool {
		code, _ := p.call(t, "GET", "/readyz", "", "")
		return code == http.StatusServiceUnavailable
	}, time.Second, 20*time.Millisecond, "readyz fails at once")
	code, _ = p.call(t, "GET", "/v1/me", token, "")
	require.Equal(t, http.StatusOK, code, "the API still answers during the delay")
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit status; logs: %s", p.logs)
		require.GreaterOrEqual(t, time.Since(sent), 2*time.Second, "the listener stayed open for the delay")
	case <-time.After(30 * time.Second):
		t.Fatalf("taskd did not exit; logs: %s", p.logs)
	}
}

// SIGTERM while clients keep writing: taskd exits 0, every write that got
// a 2xx is in the database, and no write is there in part.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	// A load test: rate limits off, explicitly.
	p := startServe(t, t.TempDir(), "DATABASE_URL="+url, "RATE_LIMIT=0")
	code, body := p.call(t, "POST", "/v1/users", "", `{"name": "alice"}`)
	require.Equal(t, http.StatusCreated, code)
	token := body["token"].(string)
	code, body = p.call(t, "POST", "/v1/projects", token, `{"name": "Load"}`)
	require.Equal(t, http.StatusCreated, code)
	project := int64(body["id"].(float64))

	var mu sync.Mutex
	var created []int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				payload := fmt.Sprintf(`{"project_id": %d, "title": "w%d-%d", "tags": ["load", "w%d", "n%d"]}`, project, w, i, w, i)
				req, _ := http.NewRequest("POST", p.base+"/v1/tasks", strings.NewReader(payload))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := client.Do(req)
				if err != nil {
					return // the server has stopped accepting
				}
				var task struct{ ID int64 }
				_ = json.NewDecoder(res.Body).Decode(&task)
				res.Body.Close()
				if res.StatusCode == http.StatusCreated {
					mu.Lock()
					created = append(created, task.ID)
					mu.Unlock()
				}
			}
		}()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(created) >= 50 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, p.stop(t), "exit status after SIGTERM; logs: %s", p.logs)
	wg.Wait()

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	var found, partial int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM tasks WHERE id = ANY($1)`, created).Scan(&found))
	require.Equal(t, len(created), found, "every 201 is in the database")
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT count(*) FROM tasks t
		WHERE (SELECT count(*) FROM task_tags tt WHERE tt.task_id = t.id) <> 3`).Scan(&partial))
	require.Zero(t, partial, "no task is there without all its tags")
	t.Logf("%d tasks created before the stop", len(created))
}

func TestTokenCommandsAndHelp(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	_, _, code := run("user", "create", "dana")
	require.Equal(t, 0, code)
	secret, msg, code := run("token", "create", "DANA", "--name", "laptop")
	require.Equal(t, 0, code, msg)
	secret = strings.TrimSpace(secret)
	require.True(t, strings.HasPrefix(secret, "taskd_"))
	id := regexp.MustCompile(`created token (\d+)`).FindStringSubmatch(msg)
	require.NotNil(t, id, msg)

	p := startServe(t, t.TempDir(), "DATABASE_URL="+url)
	status, body := p.call(t, "GET", "/v1/me", secret, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "dana", body["name"])
	_, msg, code = run("token", "revoke", id[1])
	require.Equal(t, 0, code, msg)
	// A running server hears of it through LISTEN/NOTIFY within moments.
	require.Eventually(t, func() bool {
		status, _ := p.call(t, "GET", "/v1/me", secret, "")
		return status == http.StatusUnauthorized
	}, 5*time.Second, 5*time.Millisecond, "revoked in a running server")
	require.NoError(t, p.stop(t))

	_, msg, code = run("token", "create", "nobody")
	require.Equal(t, 1, code)
	require.Contains(t, msg, `no user "nobody"`)
	_, msg, code = run("token", "revoke", "abc")
	require.Equal(t, 2, code, msg)

	out, _, code := run("version")
	require.Equal(t, 0, code)
	require.Contains(t, out, "taskd")
	for _, sub := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"user", "--help"}, {"token", "--help"}} {
		stdout, stderr, code := run(sub...)
		require.Equal(t, 0, code, "%v: %s", sub, stderr)
		help := stdout + stderr
		require.Contains(t, help, "Usage", "%v", sub)
		if sub[0] != "--help" {
			require.Contains(t, help, "DATABASE_URL", "%v names the environment variable of each flag", sub)
		}
	}
	_, stderr, code := run("serve", "--log-format", "xml")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--log-format must be json or text")
}

func TestServeReportsPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cmd := exec.Command(binary(t), "serve", "--addr", l.Addr().String())
	cmd.Dir = t.TempDir() // where it may write ./.data (the webhook key)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+testdb.URL(t))
	out, _ := cmd.CombinedOutput()
	require.Equal(t, 1, cmd.ProcessState.ExitCode())
	require.Contains(t, string(out), "cannot listen on "+l.Addr().String())
	require.Contains(t, string(out), "address already in use")
}
