package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one process of the cluster: its output goes to a log file and
// its id to a pid file, so that another process (`make cluster-stop`)
// can stop it. It runs in a session of its own: a Ctrl-C meant for
// whoever started it does not reach it, and it outlives that starter
// when asked to (`make cluster`).
type proc struct {
	name    string
	args    []string // args[0] is the program
	env     []string // nil: this process's
	dir     string
	logPath string
	pidPath string

	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // how it exited, once done is closed
}

func (p *proc) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	fmt.Fprintf(log, "---- %s: starting %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(p.args, " "))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return os.WriteFile(p.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit, SIGKILL after timeout.
func (p *proc) stop(timeout time.Duration) error {
	if p.cmd == nil || p.exited() {
		return nil
	}
	defer os.Remove(p.pidPath)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM: killed", p.name, timeout)
	}
}

// waitPort waits until the process accepts connections on port.
func (p *proc) waitPort(ctx context.Context, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			return fmt.Errorf("%s exited while starting: %v\n%s", p.name, p.err, tailFile(p.logPath, 15))
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept connections on port %d after %s:\n%s", p.name, port, timeout, tailFile(p.logPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Running lists the processes of the cluster under dir that are alive,
// by name, from their pid files.
func Running(dir string) map[string]int {
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "run", "*.pid"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if pid, ok := livePid(f, name); ok {
			out[name] = pid
		}
	}
	return out
}

// livePid reads a pid file and checks that the process is alive and is
// the program it was (a pid can be reused once its process is gone).
func livePid(pidFile, name string) (int, bool) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	program := filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0])
	want := name
	if strings.HasPrefix(name, "taskd") {
		want = "taskd"
	}
	if program != want {
		return 0, false
	}
	// A zombie is gone for our purposes.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return 0, false
		}
	}
	return pid, true
}

// StopDir stops the cluster under dir that another process started
// (`make cluster-stop`): HAProxy, the replicas (SIGTERM: each drains),
// PgBouncer, then PostgreSQL (a clean, fast shutdown). What is not
// running is skipped.
func StopDir(ctx context.Context, dir string, stopPostgres func(ctx context.Context, dataDir string) error) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	running := Running(dir)
	var errs []error
	stopAll := func(names []string) {
		for _, name := range names {
			if pid, ok := running[name]; ok {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		for _, name := range names {
			pidFile := filepath.Join(dir, "run", name+".pid")
			if _, ok := running[name]; !ok {
				_ = os.Remove(pidFile)
				continue
			}
			if err := waitGone(ctx, pidFile, name, time.Minute); err != nil {
				errs = append(errs, err)
				continue
			}
			_ = os.Remove(pidFile)
		}
	}
	stopAll([]string{"haproxy"})
	var replicas []string
	for name := range running {
		if strings.HasPrefix(name, "taskd") {
			replicas = append(replicas, name)
		}
	}
	stopAll(replicas)
	stopAll([]string{"pgbouncer"})
	if err := stopPostgres(ctx, filepath.Join(dir, "postgres")); err != nil {
		errs = append(errs, fmt.Errorf("stopping PostgreSQL: %w", err))
	}
	return errors.Join(errs...)
}

func waitGone(ctx context.Context, pidFile, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pid, alive := livePid(pidFile, name)
		if !alive {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM: killed", name, pid, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
