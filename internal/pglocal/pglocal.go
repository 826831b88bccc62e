// Package pglocal runs a PostgreSQL cluster from the binaries installed on
// this machine, so that `taskd serve` and the tests need no database set
// up by hand. PostgreSQL refuses to run as root; when the process is root
// the server commands run as the `postgres` OS user through runuser.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// ErrNoBinaries says that initdb and pg_ctl were found nowhere.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: " +
	"install them with `apt-get install postgresql` (Debian/Ubuntu), or set DATABASE_URL to an existing server")

// Options tune a cluster.
type Options struct {
	// Throwaway turns off durability (fsync, full-page writes): right for
	// test clusters that are deleted afterwards, wrong for real data.
	Throwaway bool
	// Port to listen on; 0 picks a free one. A restart that clients must
	// find again at the same address passes the previous Port.
	Port int
}

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	Dir   string // data directory
	Port  int
	bin   string
	owner *user.User // OS user the server runs as; nil: the current one
	owned bool       // started by this process, so Stop stops it
}

// BinDir finds the directory holding initdb and pg_ctl: PATH first, then
// the newest /usr/lib/postgresql/<version>/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			// A PATH entry may be a link to the real directory, where the
			// other tools (pg_dump, pgbench) stand too.
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// Start initializes dir as a cluster when it is not one yet and starts a
// server on it listening on 127.0.0.1 at a free port. When a server is
// already running on dir, Start reuses it and Stop leaves it running.
func Start(ctx context.Context, dir string, opts Options) (*Cluster, error) {
	c, err := cluster(dir)
	if err != nil {
		return nil, err
	}
	dir = c.Dir
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	if !fileExists(filepath.Join(dir, "PG_VERSION")) {
		if err := c.initdb(ctx, opts); err != nil {
			return nil, err
		}
	}
	if port, ok := c.runningPort(ctx); ok {
		c.Port = port
		return c, nil
	}
	if opts.Port != 0 {
		c.Port = opts.Port
		if err = c.start(ctx, opts); err != nil {
			return nil, err
		}
		c.owned = true
		return c, nil
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	for range 3 {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.start(ctx, opts); err == nil {
			c.owned = true
			return c, nil
		}
	}
	return nil, err
}

// URL is a connection URL for database name on this cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// Stop stops the server if this process started it.
func (c *Cluster) Stop() error {
	if !c.owned {
		return nil
	}
	_, err := c.run(context.Background(), "pg_ctl", "stop", "-D", c.Dir, "-m", "fast", "-w")
	return err
}

// StopDir stops, without waiting for clients, a server left running on
// dir by a process that died before it could stop it.
func StopDir(ctx context.Context, dir string) error {
	c, err := cluster(dir)
	if err != nil {
		return err
	}
	_, err = c.run(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", "immediate", "-w")
	return err
}

// cluster describes the cluster at dir: where its binaries are and, when
// this process is root, the OS user the server must run as.
func cluster(dir string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if c.owner, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the `postgres` OS user, which does not exist: %w", err)
		}
	}
	return c, nil
}

func (c *Cluster) ensureDir() error {
	// Parents stay open for the server user to pass through; the data
	// directory itself must be private (PostgreSQL checks).
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(c.Dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if c.owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.owner.Uid)
	gid, _ := strconv.Atoi(c.owner.Gid)
	if err := os.Chown(c.Dir, uid, gid); err != nil {
		return err
	}
	// The server user must be able to reach the directory.
	probe := exec.Command("runuser", "-u", c.owner.Username, "--", "test", "-w", c.Dir)
	if err := probe.Run(); err != nil {
		return fmt.Errorf("the `postgres` OS user cannot write %s (is a parent directory closed to other users?): use a directory it can reach, or set DATABASE_URL", c.Dir)
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context, opts Options) error {
	args := []string{"-D", c.Dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"}
	if opts.Throwaway {
		args = append(args, "--no-sync")
	}
	_, err := c.run(ctx, "initdb", args...)
	return err
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	settings := []string{
		"-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-k", c.Dir,
		"-c", "max_connections=300",
	}
	if opts.Throwaway {
		settings = append(settings, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	_, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.Dir,
		"-l", filepath.Join(c.Dir, "server.log"), "-o", strings.Join(settings, " "))
	return err
}

// runningPort reports the port of a server already running on c.Dir.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	if _, err := c.run(ctx, "pg_ctl", "status", "-D", c.Dir); err != nil {
		return 0, false
	}
	pid, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	// postmaster.pid: pid, data dir, start time, port, ...
	lines := strings.Split(string(pid), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	return port, err == nil
}

// run runs one of the server binaries, as the server's OS user when needed.
// It runs in its own process group so that a Ctrl-C meant for taskd does
// not reach the server before taskd has drained its requests and stops it.
func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.owner != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.owner.Username, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = os.TempDir() // a directory the server user can read
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, args[0], err, tail(out.String(), c.Dir))
	}
	return out.String(), nil
}

// tail adds the end of the server log to an error, where the reason for
// a failed start usually is.
func tail(out, dir string) string {
	log, err := os.ReadFile(filepath.Join(dir, "server.log"))
	if err != nil {
		return out
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return out + "\nserver.log:\n" + strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
