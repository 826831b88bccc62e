package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"taskd/internal/pglocal"
)

// Any DATABASE_URL that psql accepts works for migrate, the CLI and
// serve, on a server without SSL: a URL without sslmode (libpq's
// "prefer": try TLS, fall back to plaintext), with sslmode=disable or
// prefer, and key/value strings over TCP or the socket. Migrations once
// went through lib/pq, which reads a missing sslmode as "require" and
// refuses key/value strings, so `serve` failed where psql and the pool
// did not. sslmode=require fails, and says why.
func TestDatabaseURLForms(t *testing.T) {
	t.Parallel()
	c, password := clusterWithoutSSL(t)
	host := "127.0.0.1:" + strconv.Itoa(c.Port)
	u := func(db, query string) string {
		return (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password), Host: host, Path: "/" + db, RawQuery: query}).String()
	}
	kv := func(db, host string) string {
		return fmt.Sprintf("host='%s' port=%d user=postgres password='%s' dbname=%s", host, c.Port, password, db)
	}

	for _, tc := range []struct{ name, url string }{
		{"URL without sslmode", u("no_sslmode", "")},
		{"URL with sslmode=disable", u("disable", "sslmode=disable")},
		{"URL with sslmode=prefer", u("prefer", "sslmode=prefer")},
		{"postgresql URL", strings.Replace(u("postgresql_scheme", "connect_timeout=10&application_name=taskd"), "postgres:", "postgresql:", 1)},
		{"key/value over TCP", kv("keyvalue", "127.0.0.1")},
		{"key/value over the socket", kv("socket", c.Dir)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// migrate creates the database and applies every migration.
			out, code := runTaskd(t, tc.url, "migrate")
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "Creating: ")
			require.Contains(t, out, "Applied: 20261126000000_schema.sql")
			out, code = runTaskd(t, tc.url, "migrate", "status")
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "[X] 20261126000000_schema.sql")

			// The CLI.
			out, code = runTaskd(t, tc.url, "user", "create", "alice")
			require.Equal(t, 0, code, out)
			token := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
			require.True(t, strings.HasPrefix(token, "taskd_"), out)

			// serve, which migrates too (nothing is pending).
			p := startServe(t, t.TempDir(), "DATABASE_URL="+tc.url)
			code, _ = p.call(t, "GET", "/readyz", "", "")
			require.Equal(t, http.StatusOK, code, "logs: %s", p.logs)
			code, _ = p.call(t, "POST", "/v1/users", "", `{"name": "bob"}`)
			require.Equal(t, http.StatusCreated, code, "logs: %s", p.logs)
			code, body := p.call(t, "GET", "/v1/me", token, "")
			require.Equal(t, http.StatusOK, code, "logs: %s", p.logs)
			require.Equal(t, "alice", body["name"])
			require.NoError(t, p.stop(t), "logs: %s", p.logs)
		})
	}

	t.Run("sslmode=require fails clearly", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"migrate"}, {"user", "create", "alice"}, {"serve", "--addr", "127.0.0.1:0"}} {
			out, code := runTaskd(t, u("require", "sslmode=require"), args...)
			require.Equal(t, 1, code, "%v: %s", args, out)
			require.Contains(t, out, "server refused TLS connection", args)
			require.Contains(t, out, "user=postgres database=require", "%v names what it connected to", args)
			require.NotContains(t, out, password, args)
		}
	})

	t.Run("a malformed string fails without showing the password", func(t *testing.T) {
		t.Parallel()
		out, code := runTaskd(t, "host=127.0.0.1 password=hunter2hunter2 port=notaport", "migrate")
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "DATABASE_URL must look like")
		require.NotContains(t, out, "hunter2hunter2")
	})
}

// runTaskd runs the taskd binary with DATABASE_URL set and returns its
// combined output and exit code.
func runTaskd(t *testing.T, databaseURL string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL, "SHUTDOWN_DELAY=0")
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// clusterWithoutSSL starts a cluster of its own (whatever server
// TEST_DATABASE_URL names may have SSL on) and checks that SSL is off.
// It returns the cluster and the postgres role's password.
func clusterWithoutSSL(t *testing.T) (*pglocal.Cluster, string) {
	t.Helper()
	ctx := context.Background()
	// Named and marked as internal/testdb's clusters are, so that its
	// TestMain reaps this one too if the test process is killed.
	base, err := os.MkdirTemp("", "taskd-test-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.WriteFile(filepath.Join(base, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644))
	require.NoError(t, os.Chmod(base, 0o755)) // the server may run as the postgres OS user
	c, err := pglocal.Start(ctx, filepath.Join(base, "data"), pglocal.Options{Throwaway: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })

	admin, err := url.Parse(c.URL("postgres"))
	require.NoError(t, err)
	password, _ := admin.User.Password()
	conn, err := pgx.Connect(ctx, admin.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var ssl string
	require.NoError(t, conn.QueryRow(ctx, "SHOW ssl").Scan(&ssl))
	require.Equal(t, "off", ssl, "the cluster must not offer SSL")
	return c, password
}
