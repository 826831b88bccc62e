package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

// The PgBouncer flags: a direct URL of the same database is accepted
// (and implies transaction pooling: no named prepared statements, LISTEN
// over it); one of another database is refused at start, since LISTEN
// there would hear nothing; a bad --database-pooler or exec mode is a
// usage error. The whole topology, PgBouncer included, is tested by
// internal/cluster's scale test (make scale-test).
func TestServeDatabaseDirectURLAndModes(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	p := startServe(t, t.TempDir(), "DATABASE_URL="+url, "DATABASE_DIRECT_URL="+url)
	code, _ := p.call(t, "POST", "/v1/users", "", `{"name":"direct"}`)
	require.Equal(t, 201, code)
	require.NoError(t, p.stop(t))
	require.Contains(t, p.logs.String(), `"pooler":"transaction","exec_mode":"cache describe","listen":"direct"`)

	run := func(env ...string) (string, int) {
		cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0")
		cmd.Dir = t.TempDir() // where it keeps its webhook key
		cmd.Env = append(append(os.Environ(), "SHUTDOWN_DELAY=0", "DATABASE_URL="+url), env...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run("DATABASE_DIRECT_URL=" + testdb.URL(t))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "does not reach the database of DATABASE_URL")

	out, code = run("DATABASE_POOLER=statement")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--database-pooler must be none, session or transaction")
	out, code = run("DATABASE_EXEC_MODE=fast")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--database-exec-mode must be")
}
