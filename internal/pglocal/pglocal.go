// Package pglocal runs a PostgreSQL cluster from the binaries installed on
// this machine, so that `taskd serve` and the tests need no database set
// up by hand. PostgreSQL refuses to run as root; when the process is root
// the server commands run as the `postgres` OS user through runuser.
//
// Every connection, over TCP or the socket, must give the superuser's
// password: otherwise any local user or process could read and change all
// the data, and, as a superuser can, run programs as the server's OS
// user. The password is generated per cluster and kept beside the data
// directory in a file only its owner can read (see PasswordFile).
package pglocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
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
	Dir      string // data directory
	Port     int
	password string // the postgres role's, from PasswordFile
	bin      string
	owner    *user.User // OS user the server runs as; nil: the current one
	owned    bool       // started by this process, so Stop stops it
}

// PasswordFile is where the password of the cluster at dir is kept: beside
// the data directory rather than in it, because initdb wants an empty
// directory and reads the password before the cluster exists.
func PasswordFile(dir string) string {
	return filepath.Clean(dir) + ".password"
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
// A cluster made by an older taskd, which trusted every local connection,
// gets a password on the way: the data of those who upgrade is the data
// worth protecting.
func Start(ctx context.Context, dir string, opts Options) (*Cluster, error) {
	c, err := cluster(dir)
	if err != nil {
		return nil, err
	}
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	trusting := false
	if !fileExists(filepath.Join(c.Dir, "PG_VERSION")) {
		if err := c.initdb(ctx, opts); err != nil {
			return nil, err
		}
	} else {
		if trusting, err = c.trusting(); err != nil {
			return nil, err
		}
		if err := c.loadPassword(trusting); err != nil {
			return nil, err
		}
	}
	if err := c.serve(ctx, opts); err != nil {
		return nil, err
	}
	if trusting {
		if err := c.requirePassword(ctx); err != nil {
			_ = c.Stop()
			return nil, fmt.Errorf("requiring a password on the cluster in %s: %w", c.Dir, err)
		}
	}
	return c, nil
}

// serve reuses the server running on c.Dir or starts one.
func (c *Cluster) serve(ctx context.Context, opts Options) error {
	if port, ok := c.runningPort(ctx); ok {
		c.Port = port
		return nil
	}
	var err error
	if opts.Port != 0 {
		c.Port = opts.Port
		if err = c.start(ctx, opts); err != nil {
			return err
		}
		c.owned = true
		return nil
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	for range 3 {
		if c.Port, err = freePort(); err != nil {
			return err
		}
		if err = c.start(ctx, opts); err == nil {
			c.owned = true
			return nil
		}
	}
	return err
}

// URL is a connection URL, password included, for database name on this
// cluster.
func (c *Cluster) URL(name string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
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
	// A password file left by an initdb that failed belongs to no cluster:
	// always a fresh one.
	if err := c.newPassword(); err != nil {
		return err
	}
	args := []string{"-D", c.Dir, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + PasswordFile(c.Dir),
		"--encoding=UTF8", "--locale=C.UTF-8"}
	if opts.Throwaway {
		args = append(args, "--no-sync")
	}
	_, err := c.run(ctx, "initdb", args...)
	return err
}

// newPassword generates the cluster's password and writes PasswordFile,
// owned by the server's OS user so that initdb can read it.
func (c *Cluster) newPassword() error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	c.password = hex.EncodeToString(raw)
	return c.writePrivate(PasswordFile(c.Dir), []byte(c.password+"\n"))
}

// loadPassword reads PasswordFile. A cluster that still trusts every
// connection (made by an older taskd) has none yet: it gets a new one,
// which requirePassword then sets.
func (c *Cluster) loadPassword(trusting bool) error {
	path := PasswordFile(c.Dir)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if trusting {
			return c.newPassword()
		}
		return fmt.Errorf("the PostgreSQL cluster in %s requires a password, and %s, which held it, is missing: restore it, or delete the cluster (its data too) to start afresh", c.Dir, path)
	}
	if err != nil {
		return err
	}
	c.password = strings.TrimSpace(string(raw))
	if c.password == "" {
		return fmt.Errorf("%s is empty", path)
	}
	// A password others can read protects nothing.
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return os.Chmod(path, 0o600)
	}
	return nil
}

// trusting reports whether pg_hba.conf lets some connection in without a
// password, as clusters made by older versions of this package do.
func (c *Cluster) trusting() (bool, error) {
	hba, err := os.ReadFile(filepath.Join(c.Dir, "pg_hba.conf"))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(hba), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "trust" {
			return true, nil
		}
	}
	return false, nil
}

// hba replaces the pg_hba.conf of a trusting cluster with what
// initdb --auth=scram-sha-256 would have written: a user's own rules were
// never expected in a cluster taskd manages.
const hba = `# Written by taskd (internal/pglocal): every connection gives the password.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
`

// requirePassword gives the postgres role c.password and makes pg_hba.conf
// ask for it, on a running cluster that trusts connections. Each step can
// be redone, so a Start that dies half-way is finished by the next one.
func (c *Cluster) requirePassword(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres")) // trusted: the password is not asked yet
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// Older servers store md5 by default, which scram-sha-256 cannot check.
	if _, err := conn.Exec(ctx, "SET password_encryption = 'scram-sha-256'"); err != nil {
		return err
	}
	// A literal: ALTER ROLE takes no parameters. The password is hex.
	if _, err := conn.Exec(ctx, "ALTER ROLE postgres PASSWORD '"+c.password+"'"); err != nil {
		return err
	}
	if err := c.writePrivate(filepath.Join(c.Dir, "pg_hba.conf"), []byte(hba)); err != nil {
		return err
	}
	_, err = c.run(ctx, "pg_ctl", "reload", "-D", c.Dir)
	return err
}

// writePrivate replaces path with data, readable only by the server's OS
// user (and root), in one rename so that no reader sees half a file.
func (c *Cluster) writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // a crash must not leave an empty password file
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && c.owner != nil {
		uid, _ := strconv.Atoi(c.owner.Uid)
		gid, _ := strconv.Atoi(c.owner.Gid)
		err = os.Chown(tmp, uid, gid)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
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
