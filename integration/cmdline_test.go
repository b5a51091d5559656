package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// No password, token or key is on any process's command line (which every
// local user may read in /proc): neither in the test harness's stack nor in
// `make dev`'s, which this test runs from scripts/dev-vault.sh in a
// temporary directory on free ports.
func TestNoSecretOnAnyCommandLine(t *testing.T) {
	s := startInbound(t, "bot")
	checked := harness.RequireNoSecretOnCommandLine(t,
		[]string{s.Vault.Token, s.NATS.Password, s.NATS.RelayPassword},
		s.Vault.Process, s.NATS.Process, s.Relay.Process, s.Mailpit.Process)
	require.GreaterOrEqual(t, len(checked), 5, "vault, its plugin, nats-server, the relay, mailpit: %v", checked)

	dir := t.TempDir()
	dev := startDev(t, "make-dev", devEnv(t, dir))
	vars := dev.vars
	secrets := []string{vars["VAULT_TOKEN"], vars["MAILGENT_NATS_PASSWORD"]}
	// The plugin's NATS password is in no file: read it where it lives, in
	// nats-server's environment.
	secrets = append(secrets, processEnv(t, dev.pid, "nats-server", "MAILGENT_NATS_PLUGIN_PASSWORD"))
	for _, sec := range secrets {
		require.GreaterOrEqual(t, len(sec), 32, "a secret of the run was not found: %q", sec)
	}
	checked = harness.RequireNoSecretInProcessGroups(t, secrets, map[int]bool{dev.pid: true})
	var names []string
	for _, c := range checked {
		names = append(names, filepath.Base(strings.Fields(c)[0]))
	}
	t.Logf("make dev's processes checked: %v", names)
	for _, want := range []string{"nats-server", "vault", "vault-plugin-mailgent", "mailpit", "mailgent-dns", "mailgent-relay"} {
		require.Contains(t, names, want)
	}
	dev.stop(t)
}

// devRun is scripts/dev-vault.sh running in its own process group.
type devRun struct {
	pid     int
	vars    map[string]string // its .data/env
	cmd     *exec.Cmd
	stopped bool
}

// startDev runs scripts/dev-vault.sh with args in env (MAILGENT_DEV_DATA
// among it) and waits for its .data/env; the test's end stops it.
func startDev(t *testing.T, name string, env []string, args ...string) *devRun {
	t.Helper()
	var data string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "MAILGENT_DEV_DATA="); ok {
			data = v
		}
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(harness.RepoRoot(t), "scripts", "dev-vault.sh")}, args...)...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(harness.LogDir(t), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { logFile.Close() })
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	d := &devRun{pid: cmd.Process.Pid, cmd: cmd}
	t.Cleanup(func() { d.stop(t) })
	envFile := filepath.Join(data, "env")
	require.Eventually(t, func() bool { _, err := os.Stat(envFile); return err == nil }, 6*time.Minute, 200*time.Millisecond,
		"%s did not come up; see %s", name, logPath)
	d.vars = readEnvFile(t, envFile)
	return d
}

// stop sends SIGTERM, as Ctrl-C does, and waits for the script to exit.
func (d *devRun) stop(t *testing.T) {
	if !d.stopped {
		d.stopped = true
		_ = syscall.Kill(d.pid, syscall.SIGTERM)
		_ = d.cmd.Wait()
	}
}

// devEnv is the environment of a make dev run in dir on free ports.
func devEnv(t *testing.T, dir string) []string {
	env := []string{"MAILGENT_DEV_DATA=" + dir}
	for _, p := range []string{"VAULT_PORT", "NATS_PORT", "NATS_MONITOR_PORT", "SMTP_PORT", "MAILPIT_SMTP_PORT", "MAILPIT_UI_PORT", "DNS_PORT", "RELAY_METRICS_PORT"} {
		env = append(env, fmt.Sprintf("%s=%d", p, harness.FreePort(t)))
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// readEnvFile reads the export lines of .data/env.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && !strings.HasPrefix(k, "#") {
			vars[k] = v
		}
	}
	return vars
}

// processEnv reads one variable of the environment of the process named
// name in process group pgid.
func processEnv(t *testing.T, pgid int, name, key string) string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(name)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pgid is the 5th field after the command, which is in parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 3 || fields[2] != fmt.Sprint(pgid) {
			continue
		}
		environ, err := os.ReadFile(filepath.Join(d, "environ"))
		require.NoError(t, err)
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte(key+"=")); ok {
				return string(v)
			}
		}
	}
	t.Fatalf("no %s process with %s in process group %d", name, key, pgid)
	return ""
}
