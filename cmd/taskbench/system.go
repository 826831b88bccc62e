package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// start runs taskd against PostgreSQL through the latency proxy.
func (b *bench) start(ctx context.Context, bin string, latency time.Duration, maxConns int) error {
	p, err := startProxy(fmt.Sprintf("127.0.0.1:%d", b.cluster.Port), latency)
	if err != nil {
		return err
	}
	b.proxy = p
	viaProxy := strings.Replace(b.dbURL, fmt.Sprintf("127.0.0.1:%d", b.cluster.Port), p.addr(), 1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--migrate=false",
		"--db-max-conns", strconv.Itoa(maxConns), "--log-format", "text", "--request-timeout", "30s",
		// A benchmark measures the server, not its rate limits.
		"--rate-limit", "0", "--signup-rate-limit", "0")
	cmd.Args = append(cmd.Args, b.taskdArgs...)
	// The webhook receiver is taskbench itself, on 127.0.0.1.
	cmd.Env = append(os.Environ(), "DATABASE_URL="+viaProxy, "WEBHOOK_ALLOW_PRIVATE=true")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	b.taskd = cmd
	b.taskdPID = cmd.Process.Pid
	if !bufio.NewScanner(stdout).Scan() {
		return fmt.Errorf("taskd did not start")
	}
	b.base = "http://" + addr
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}, Timeout: 60 * time.Second}
	b.pgPIDs = func() []int { return clusterPIDs(b.cluster.Dir) }
	return nil
}

// restart replaces taskd and the proxy, e.g. with another latency.
func (b *bench) restart(ctx context.Context, bin string, latency time.Duration, maxConns int) error {
	_ = b.taskd.Process.Signal(syscall.SIGTERM)
	_ = b.taskd.Wait()
	b.proxy.close()
	return b.start(ctx, bin, latency, maxConns)
}

// clusterPIDs are the postmaster and its children (backends and helpers).
func clusterPIDs(dir string) []int {
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	postmaster, _ := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	pids := []int{postmaster}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); ok && ppid == postmaster {
			pids = append(pids, pid)
		}
	}
	return pids
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times on Linux.
const clockTicks = 100

// procStat reads a process's CPU time (user + system) and parent.
func procStat(pid int) (cpu time.Duration, ppid int, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold spaces.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, ppid, true
}

// cpuOf sums the CPU time of processes.
func cpuOf(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if cpu, _, ok := procStat(pid); ok {
			total += cpu
		}
	}
	return total
}
