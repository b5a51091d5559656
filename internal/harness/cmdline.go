package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// RequireNoSecretOnCommandLine fails the test if a process the harness
// started — or one of its own, such as the plugin processes Vault runs in
// the same process group — has one of secrets in its command line, which
// every local user can read in /proc/<pid>/cmdline. It returns the command
// lines it checked, by pid, so a test can show it looked at what it meant to.
func RequireNoSecretOnCommandLine(tb testing.TB, secrets []string, procs ...*Process) map[int]string {
	tb.Helper()
	groups := map[int]bool{}
	for _, p := range procs {
		p.mu.Lock()
		if p.cmd != nil && p.cmd.Process != nil && !p.exitedLocked() {
			groups[p.cmd.Process.Pid] = true // Setpgid: the group ID is the leader's pid
		}
		p.mu.Unlock()
	}
	if len(groups) != len(procs) {
		tb.Fatalf("harness: %d of %d processes are not running", len(procs)-len(groups), len(procs))
	}
	return RequireNoSecretInProcessGroups(tb, secrets, groups)
}

// RequireNoSecretInProcessGroups is RequireNoSecretOnCommandLine for the
// processes of the given process groups (by group ID), e.g. of a script
// started with Setpgid.
func RequireNoSecretInProcessGroups(tb testing.TB, secrets []string, groups map[int]bool) map[int]string {
	tb.Helper()
	checked := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(dir))
		if !groups[processGroup(dir)] {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		cmdline := string(bytes.ReplaceAll(bytes.TrimRight(raw, "\x00"), []byte{0}, []byte{' '}))
		checked[pid] = cmdline
		for _, s := range secrets {
			if s != "" && strings.Contains(cmdline, s) {
				tb.Errorf("harness: pid %d has a secret on its command line: %s", pid, strings.ReplaceAll(cmdline, s, "<secret>"))
			}
		}
	}
	for pgid := range groups {
		if _, ok := checked[pgid]; !ok {
			tb.Fatalf("harness: could not read the command line of pid %d", pgid)
		}
	}
	return checked
}

// ProcessGroupMembers lists the live processes of process group pgid.
func ProcessGroupMembers(pgid int) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		if processGroup(dir) == pgid {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			pids = append(pids, pid)
		}
	}
	return pids
}

// processGroup reads the process group ID from /proc/<pid>/stat; 0 if unknown.
func processGroup(dir string) int {
	raw, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 3 {
		return 0
	}
	pgid, _ := strconv.Atoi(f[2])
	return pgid
}

// PluginRSS is the resident memory, in bytes, of the mailgent plugin
// process(es) Vault v runs (in its process group), read from /proc.
func PluginRSS(tb testing.TB, v *Vault) int64 {
	tb.Helper()
	v.mu.Lock()
	pgid := 0
	if v.cmd != nil && v.cmd.Process != nil {
		pgid = v.cmd.Process.Pid
	}
	v.mu.Unlock()
	var total int64
	found := false
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		if processGroup(dir) != pgid {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !bytes.Contains(raw, []byte(PluginName)) || bytes.HasPrefix(raw, []byte(filepath.Join(RepoRoot(tb), "bin", "vault"))) {
			continue
		}
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb << 10
				found = true
			}
		}
	}
	if !found {
		tb.Fatalf("harness: no %s process under Vault (process group %d)", PluginName, pgid)
	}
	return total
}
