package integration

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

// The production topology comes up from the project's own binaries: three
// nats-servers with routes (an R3 stream can be made) and three Vault nodes
// on Raft with the plugin mounted; a write on the active node reads back
// through a standby, and after the active node is killed another takes over
// and the agent's credential still decrypts.
func TestClusterTopologyComesUpAndFailsOver(t *testing.T) {
	nc := harness.StartNATSCluster(t, 3)
	vc := harness.StartVaultCluster(t, 3)
	leader := vc.WaitLeader(t)
	require.NoError(t, leader.Client.Sys().Mount("mailgent", &api.MountInput{Type: harness.PluginName}))
	cfg := nc.MountConfig()
	cfg["domain"] = "agents.cluster.test"
	_, err := leader.Client.Logical().Write("mailgent/config", cfg)
	require.NoError(t, err)
	for _, w := range []struct {
		path string
		data map[string]interface{}
	}{
		{"mailgent/orgs/acme", map[string]interface{}{}},
		{"mailgent/agents/bot", map[string]interface{}{"org": "acme"}},
		{"mailgent/agents/bot/creds/site", map[string]interface{}{"password": "pw-cluster", "totp_secret": "JBSWY3DPEHPK3PXP"}},
	} {
		_, err := leader.Client.Logical().Write(w.path, w.data)
		require.NoError(t, err, w.path)
	}

	// A standby forwards the read to the active node.
	var standby *harness.Vault
	for _, v := range vc.Nodes {
		if v != leader {
			standby = v
			break
		}
	}
	cred, err := standby.Client.Logical().Read("mailgent/agents/bot/creds/site")
	require.NoError(t, err)
	require.Equal(t, "pw-cluster", cred.Data["password"])

	// The NATS cluster takes an R3 stream.
	conn, err := bus.Connect(nc.Options("test"))
	require.NoError(t, err)
	defer conn.Close()
	js, err := jetstream.New(conn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3PROBE", Subjects: []string{"r3probe.>"}, Replicas: 3})
	require.NoError(t, err)
	require.Equal(t, 3, st.CachedInfo().Config.Replicas)

	// kill -9 of the active node: another takes over; the credential,
	// written before, still decrypts.
	leader.Kill()
	next := vc.WaitLeader(t)
	require.NotSame(t, leader, next)
	require.Eventually(t, func() bool {
		cred, err := next.Client.Logical().Read("mailgent/agents/bot/creds/site")
		return err == nil && cred != nil && cred.Data["password"] == "pw-cluster"
	}, 60*time.Second, 250*time.Millisecond, "the credential did not read back after failover")
}
