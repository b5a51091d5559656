package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// `make dev-cluster` as a developer runs it (scripts/dev-vault.sh
// --cluster, here in a temporary directory on free ports): 3 Vault nodes
// on Raft, every one a voter; 3 nats-servers holding every Mailgent stream
// with 3 replicas; 2 relays, either of which takes mail that any Vault
// node then reads; .data/env lists all of it; no secret on a command line;
// SIGTERM (Ctrl-C) stops every process it started.
func TestDevClusterStartsTheProductionTopology(t *testing.T) {
	dir := t.TempDir()
	env := []string{"MAILGENT_DEV_DATA=" + dir}
	for name, n := range map[string]int{"VAULT_PORTS": 3, "VAULT_CLUSTER_PORTS": 3, "NATS_PORTS": 3, "NATS_MONITOR_PORTS": 3,
		"NATS_ROUTE_PORTS": 3, "SMTP_PORTS": 2, "RELAY_METRICS_PORTS": 2, "MAILPIT_SMTP_PORT": 1, "MAILPIT_UI_PORT": 1, "DNS_PORT": 1} {
		ports := make([]string, n)
		for i := range ports {
			ports[i] = fmt.Sprint(harness.FreePort(t))
		}
		env = append(env, name+"="+strings.Join(ports, ","))
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	dev := startDev(t, "make-dev-cluster", env, "--cluster")
	vars := dev.vars

	addrs := strings.Split(vars["VAULT_ADDRS"], ",")
	require.Len(t, addrs, 3, "VAULT_ADDRS")
	require.Equal(t, addrs[0], vars["VAULT_ADDR"])
	require.Len(t, strings.Split(vars["NATS_URL"], ","), 3, "NATS_URL")
	smtp := strings.Split(vars["MAILGENT_SMTP_ADDRS"], ",")
	require.Len(t, smtp, 2, "MAILGENT_SMTP_ADDRS")
	require.Equal(t, smtp[0], vars["MAILGENT_SMTP_ADDR"])

	requireVoters(t, addrs[1], vars["VAULT_TOKEN"], 3)
	cfg, err := harness.NewVaultClient(t, addrs[2], vars["VAULT_TOKEN"]).Logical().Read("mailgent/config")
	require.NoError(t, err)
	require.Equal(t, json.Number("3"), cfg.Data["nats_replicas"])
	requireStreamsReplicated(t, strings.Split(portsOf(env, "NATS_MONITOR_PORTS"), ",")[0], 3)

	// Mail through the second relay, read through the third node.
	first := harness.NewVaultClient(t, addrs[0], vars["VAULT_TOKEN"])
	_, err = first.Logical().Write("mailgent/orgs/acme", nil)
	require.NoError(t, err)
	_, err = first.Logical().Write("mailgent/agents/bot", map[string]interface{}{"org": "acme"})
	require.NoError(t, err)
	// The relay learns of the new agent from the directory bucket in a moment.
	var sendErr error
	require.Eventually(t, func() bool {
		sendErr = harness.SendMail(smtp[1], nil, "mx.svc.test", "noreply@svc.test", []string{"bot@" + vars["MAILGENT_DOMAIN"]},
			trustMail("SVC <noreply@svc.test>", "bot@"+vars["MAILGENT_DOMAIN"], "551234", "https://svc.test/verify?t=abcdef123456"))
		return sendErr == nil
	}, 15*time.Second, 100*time.Millisecond, "relay-2 refused the mail: %v", sendErr)
	third := harness.NewVaultClient(t, addrs[2], vars["VAULT_TOKEN"])
	third.SetClientTimeout(40 * time.Second)
	got, err := third.Logical().ReadWithData("mailgent/agents/bot/messages/wait", map[string][]string{"timeout": {"30"}, "from": {"svc.test"}})
	require.NoError(t, err)
	require.Equal(t, "verified", got.Data["trust"], "the message: %v", got.Data)
	require.Equal(t, "551234", got.Data["code"])

	unsealKey, err := os.ReadFile(filepath.Join(dir, "secrets", "vault-unseal-key"))
	require.NoError(t, err)
	secrets := []string{vars["VAULT_TOKEN"], vars["MAILGENT_NATS_PASSWORD"], string(unsealKey),
		processEnv(t, dev.pid, "nats-server", "MAILGENT_NATS_PLUGIN_PASSWORD")}
	for _, s := range secrets {
		require.GreaterOrEqual(t, len(s), 24, "a secret of the run was not found")
	}
	checked := harness.RequireNoSecretInProcessGroups(t, secrets, map[int]bool{dev.pid: true})
	require.GreaterOrEqual(t, len(checked), 12, "3 vault, its plugin, 3 nats-server, 2 relays, dns, mailpit, the script: %v", checked)

	dev.stop(t)
	require.Eventually(t, func() bool {
		return len(harness.ProcessGroupMembers(dev.pid)) == 0
	}, 30*time.Second, 500*time.Millisecond, "processes of make dev-cluster outlived it")
}

// portsOf is the value of NAME= in env.
func portsOf(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// requireVoters waits until the Raft configuration has n voters.
func requireVoters(t *testing.T, addr, token string, n int) {
	t.Helper()
	c := harness.NewVaultClient(t, addr, token)
	require.Eventually(t, func() bool {
		voters, err := harness.RaftVoters(c)
		return err == nil && voters == n
	}, 60*time.Second, time.Second, "the Raft cluster does not have %d voters", n)
}

// requireStreamsReplicated checks, on a nats-server's monitoring port,
// that every Mailgent stream, bucket and object store has n replicas.
func requireStreamsReplicated(t *testing.T, monitorPort string, n int) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + monitorPort + "/jsz?streams=true&config=true")
	require.NoError(t, err)
	defer resp.Body.Close()
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name   string `json:"name"`
				Config struct {
					Replicas int `json:"num_replicas"`
				} `json:"config"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&jsz))
	seen := map[string]int{}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			seen[s.Name] = s.Config.Replicas
		}
	}
	for _, name := range []string{"MAILGENT_INBOUND", "MAILGENT_OUTBOUND", "MAILGENT_OUTBOUND_STATUS", "KV_mailgent_directory",
		"KV_mailgent_delivered", "OBJ_mailgent_inbound_blobs", "OBJ_mailgent_outbound_blobs"} {
		require.Equal(t, n, seen[name], "replicas of %s (all: %v)", name, seen)
	}
}
