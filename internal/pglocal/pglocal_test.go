package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// A new cluster lets in only those who read the password file, over TCP
// and over the socket alike.
func TestNewClusterRequiresThePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := dataDir(t)
	c, err := Start(ctx, dir, Options{Throwaway: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })

	requirePrivatePasswordFile(t, c)
	requireOnlyThePassword(t, c)
	socket := fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", c.Dir, c.Port)
	requireRefused(t, socket)

	// A second Start finds the server running and the password in the file.
	again, err := Start(ctx, dir, Options{Throwaway: true})
	require.NoError(t, err)
	require.Equal(t, c.URL("postgres"), again.URL("postgres"))
	require.NoError(t, again.Stop(), "leaves the server to its starter")
	connect(t, c.URL("postgres"))
}

// A cluster made by an older taskd trusted every connection; Start gives
// it a password, whether its server is running or not, and it keeps the
// password across restarts.
func TestTrustingClusterGetsAPassword(t *testing.T) {
	t.Parallel()
	for _, running := range []bool{true, false} {
		t.Run("running="+strconv.FormatBool(running), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := dataDir(t)
			old := initTrusting(t, dir)
			if running {
				port, err := freePort()
				require.NoError(t, err)
				old.Port = port
				require.NoError(t, old.start(ctx, Options{Throwaway: true}))
				t.Cleanup(func() { _ = StopDir(context.Background(), dir) })
				connect(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
			}

			c, err := Start(ctx, dir, Options{Throwaway: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Stop() })
			require.Equal(t, !running, c.owned)
			requirePrivatePasswordFile(t, c)
			hba, err := os.ReadFile(filepath.Join(dir, "pg_hba.conf"))
			require.NoError(t, err)
			require.NotContains(t, string(hba), "trust")
			requireHBAOwnedByServer(t, c)
			requireOnlyThePassword(t, c)

			// Restarted, the cluster is no longer trusting: the file holds
			// the password it still has.
			require.NoError(t, StopDir(ctx, dir))
			c, err = Start(ctx, dir, Options{Throwaway: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Stop() })
			requireOnlyThePassword(t, c)
		})
	}
}

// Without its password file, a cluster that asks for a password cannot
// be used: Start says so rather than making a password nobody can set.
func TestMissingPasswordFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := dataDir(t)
	c, err := Start(ctx, dir, Options{Throwaway: true})
	require.NoError(t, err)
	require.NoError(t, c.Stop())
	require.NoError(t, os.Remove(PasswordFile(dir)))
	_, err = Start(ctx, dir, Options{Throwaway: true})
	require.ErrorContains(t, err, "is missing")
}

// dataDir is a data directory path in a fresh temporary directory that
// the server's OS user can enter when we are root.
func dataDir(t *testing.T) string {
	t.Helper()
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	return filepath.Join(base, "data")
}

// initTrusting makes a cluster at dir as this package used to: trusting
// every connection, with no password.
func initTrusting(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := cluster(dir)
	require.NoError(t, err)
	require.NoError(t, c.ensureDir())
	_, err = c.run(context.Background(), "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	require.NoError(t, err)
	require.NoFileExists(t, PasswordFile(dir))
	return c
}

func requirePrivatePasswordFile(t *testing.T, c *Cluster) {
	t.Helper()
	info, err := os.Stat(PasswordFile(c.Dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	if c.owner != nil {
		require.Equal(t, c.owner.Uid, strconv.Itoa(int(info.Sys().(*syscall.Stat_t).Uid)), "owned by the server's OS user")
	}
	raw, err := os.ReadFile(PasswordFile(c.Dir))
	require.NoError(t, err)
	require.Len(t, strings.TrimSpace(string(raw)), 48, "24 random bytes in hex")
}

func requireHBAOwnedByServer(t *testing.T, c *Cluster) {
	t.Helper()
	info, err := os.Stat(filepath.Join(c.Dir, "pg_hba.conf"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	uid := strconv.Itoa(os.Getuid())
	if c.owner != nil {
		uid = c.owner.Uid
	}
	require.Equal(t, uid, strconv.Itoa(int(info.Sys().(*syscall.Stat_t).Uid)), "owned by the server's OS user")
}

// requireOnlyThePassword checks that TCP connections as postgres need the
// password: none or a wrong one is refused, the file's is let in.
func requireOnlyThePassword(t *testing.T, c *Cluster) {
	t.Helper()
	u, err := url.Parse(c.URL("postgres"))
	require.NoError(t, err)
	password, ok := u.User.Password()
	require.True(t, ok, "URL carries the password")
	raw, err := os.ReadFile(PasswordFile(c.Dir))
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(raw)), password, "the password is the file's")

	u.User = url.User("postgres")
	requireRefused(t, u.String())
	u.User = url.UserPassword("postgres", "wrong")
	requireRefused(t, u.String())
	connect(t, c.URL("postgres"))
}

// requireRefused checks that connecting fails for want of authentication.
// A reload reaches the server a moment after pg_ctl returns: give it that.
func requireRefused(t *testing.T, conninfo string) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = tryConnect(conninfo)
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "connected without the password")
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "not refused by the server: %v", err)
	require.Contains(t, []string{"28P01", "28000"}, pgErr.Code, "%v", err)
}

func connect(t *testing.T, conninfo string) {
	t.Helper()
	require.NoError(t, tryConnect(conninfo))
}

func tryConnect(conninfo string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, conninfo)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}
