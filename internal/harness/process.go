// Package harness starts the real servers Mailgent runs with — vault,
// nats-server, mailgent-relay and mailpit — as child processes on free
// loopback ports, for integration tests and benchmarks, and a DNS server in
// the test process that publishes test senders' DKIM, SPF and DMARC records. Each process logs to
// .data/test-logs/<test>/<name>.log, kept after the run; a failing test also
// prints the tail of every log. Processes are stopped in tb.Cleanup, which
// runs even when the test fails or panics, and die with the test binary
// (Pdeathsig) if it is killed.
package harness

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one child server process.
type Process struct {
	Name    string
	LogPath string

	tb   testing.TB
	bin  string
	args []string
	env  []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startProcess(tb testing.TB, name, bin string, args, env []string) *Process {
	tb.Helper()
	p := &Process{
		Name:    name,
		LogPath: filepath.Join(LogDir(tb), name+".log"),
		tb:      tb,
		bin:     bin,
		args:    args,
		env:     env,
	}
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			p.dumpLog(80)
		}
	})
	p.Start()
	return p
}

// StartProcess starts bin with args, and env added to the test's
// environment, as a child server process that is logged and stopped like
// the harness's own servers: for a test that runs a server from a
// configuration file of its own (integration/compose_test.go).
func StartProcess(tb testing.TB, name, bin string, args, env []string) *Process {
	tb.Helper()
	return startProcess(tb, name, bin, args, env)
}

// WaitReady polls check until it returns nil; the process exiting first,
// or timeout passing, fails the test with the tail of its log.
func (p *Process) WaitReady(timeout time.Duration, check func() error) {
	p.tb.Helper()
	p.waitReady(timeout, check)
}

// Start (re)starts the process with the arguments it was first given.
func (p *Process) Start() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exitedLocked() {
		p.tb.Fatalf("%s: start while running", p.Name)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.tb.Fatalf("%s: log file: %v", p.Name, err)
	}
	fmt.Fprintf(logf, "==== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so Stop reaches Vault's plugin processes too; and
	// killed with the test binary if that dies without running cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.tb.Fatalf("%s: start %s: %v", p.Name, p.bin, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
}

func (p *Process) exitedLocked() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true, nil
	}
	if p.exitedLocked() {
		return true, p.err
	}
	return false, nil
}

// Stop sends SIGTERM to the process group and waits for a graceful exit,
// then SIGKILL after 10 seconds.
func (p *Process) Stop() { p.signal(syscall.SIGTERM, 10*time.Second) }

// Kill ends the process group with SIGKILL at once, as a crash would.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 0) }

func (p *Process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	// Leftovers of the group (a plugin process Vault started) go too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// Log returns everything the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

func (p *Process) dumpLog(lines int) {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	p.tb.Logf("---- last %d lines of %s (%s)\n%s", len(all), p.Name, p.LogPath, strings.Join(all, "\n"))
}

// waitReady polls check until it returns nil, the process exits, or the
// timeout passes; the latter two fail the test with the log's tail.
func (p *Process) waitReady(timeout time.Duration, check func() error) {
	p.tb.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return
		}
		if done, err := p.Exited(); done {
			p.dumpLog(80)
			p.tb.Fatalf("%s exited before it was ready: %v", p.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.dumpLog(80)
	p.tb.Fatalf("%s not ready after %s: %v", p.Name, timeout, last)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// is picked at random below the kernel's ephemeral range: a port the kernel
// hands out (":0") can be handed out again, as the local end of some
// outgoing connection, before the server that is to listen on it has
// started (seen: nats-server failing with "address already in use").
func FreePort(tb testing.TB) int {
	tb.Helper()
	lo := ephemeralLow()
	for range 100 {
		port := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux
// default 32768).
func ephemeralLow() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				lo = n
			}
		}
	}
	return lo
}

// LogDir is .data/test-logs/<test name>/, emptied at the first call of a test.
func LogDir(tb testing.TB) string {
	tb.Helper()
	name := strings.NewReplacer("/", "__", " ", "_", ":", "_").Replace(tb.Name())
	dir := filepath.Join(RepoRoot(tb), ".data", "test-logs", name)
	logDirsMu.Lock()
	defer logDirsMu.Unlock()
	if !logDirs[dir] {
		_ = os.RemoveAll(dir)
		logDirs[dir] = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatalf("log dir: %v", err)
	}
	return dir
}

var (
	logDirsMu sync.Mutex
	logDirs   = map[string]bool{}
)

// RepoRoot is the directory of the main module's go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(b), "module github.com/mailgent/mailgent\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal(errors.New("harness: not inside the mailgent repository"))
		}
		dir = parent
	}
}

// Memory is the process's resident memory now (VmRSS) and at its peak
// (VmHWM), in bytes, from /proc; zeros when it is not running.
// pid is the running process's ID, 0 before it starts.
func (p *Process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// CPU is the process's CPU time so far (user and system, from
// /proc/<pid>/stat; 0 when it is not running).
func (p *Process) CPU() time.Duration {
	pid := p.pid()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if pid == 0 || err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them, in
	// clock ticks (USER_HZ, 100 on Linux).
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (p *Process) Memory() (rss, peak int64) {
	pid := p.pid()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if pid == 0 || err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}
