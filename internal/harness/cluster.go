package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mailgent/mailgent/internal/devcerts"
)

// The production topology on loopback: a NATS JetStream cluster (routes
// between the servers, R3 streams possible) and a Vault cluster on
// integrated storage (Raft) with HA. Each node is a Process of its own, so
// a test can kill -9 it, wipe its store and bring it back.

// NATSCluster is nats-servers clustered with routes, sharing the TLS CA and
// the users of deploy/nats. Its embedded NATS holds the URL list of all
// nodes and the credentials, so it serves as a NATS for clients
// (Options, RelayOptions, MountConfig); Process is the first node's.
type NATSCluster struct {
	*NATS
	Nodes []*NATS
}

// StartNATSCluster starts n nats-servers in one JetStream cluster and waits
// until every one is healthy (a meta leader elected).
func StartNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	dir := tb.TempDir()
	certs, err := devcerts.Generate(filepath.Join(dir, "tls"), []string{"localhost", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		tb.Fatal(err)
	}
	c := &NATSCluster{NATS: &NATS{Username: NATSPluginUser, Password: RandomSecret(),
		RelayUsername: NATSRelayUser, RelayPassword: RandomSecret(), CAFile: certs.CA, CACert: ca}}
	routes := make([]int, n)
	for i := range routes {
		routes[i] = FreePort(tb)
	}
	var urls []string
	for i := range n {
		node := c.startNode(tb, filepath.Join(dir, fmt.Sprintf("n%d", i+1)), i, routes, certs)
		c.Nodes = append(c.Nodes, node)
		urls = append(urls, node.URL)
	}
	c.URL = strings.Join(urls, ",")
	c.Process, c.MonitorURL, c.StoreDir = c.Nodes[0].Process, c.Nodes[0].MonitorURL, c.Nodes[0].StoreDir
	for _, node := range c.Nodes {
		node.WaitHealthy()
	}
	return c
}

// startNode starts the i-th server of the cluster.
func (c *NATSCluster) startNode(tb testing.TB, dir string, i int, routes []int, certs devcerts.Files) *NATS {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	port, mport := FreePort(tb), FreePort(tb)
	node := &NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Username: c.Username, Password: c.Password,
		RelayUsername: c.RelayUsername, RelayPassword: c.RelayPassword, CAFile: c.CAFile, CACert: c.CACert,
		MonitorURL: fmt.Sprintf("http://127.0.0.1:%d", mport), StoreDir: filepath.Join(dir, "jetstream")}
	var peers []string
	for j, r := range routes {
		if j != i {
			peers = append(peers, fmt.Sprintf("nats-route://127.0.0.1:%d", r))
		}
	}
	writeNATSConfig(tb, dir, fmt.Sprintf(`server_name: "n%d"
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream { store_dir: %q }
tls { cert_file: %q, key_file: %q, timeout: 2 }
cluster {
  name: "mailgent"
  listen: "127.0.0.1:%d"
  routes: [%s]
}
include "mailgent-users.conf"
`, i+1, port, mport, node.StoreDir, certs.Cert, certs.Key, routes[i], strings.Join(quoted(peers), ", ")))
	node.Process = startProcess(tb, fmt.Sprintf("nats-server-%d", i+1), Tool(tb, "nats-server"), []string{"-c", filepath.Join(dir, "nats.conf")},
		[]string{"MAILGENT_NATS_PLUGIN_PASSWORD=" + c.Password, "MAILGENT_NATS_RELAY_PASSWORD=" + c.RelayPassword})
	return node
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// WaitHealthy waits until the server reports itself healthy, JetStream
// (and, in a cluster, its meta leader) included.
func (n *NATS) WaitHealthy() {
	n.tb.Helper()
	n.waitReady(60*time.Second, func() error { return httpOK(n.MonitorURL + "/healthz") })
}

// VaultCluster is Vault servers on integrated storage (Raft) with HA,
// initialised with one unseal key, the plugin in the catalog and a file
// audit device. Leader returns the active node; Client talks to it.
type VaultCluster struct {
	Nodes     []*Vault
	Token     string
	UnsealKey string
	PluginSHA string
	AuditLog  string
}

// StartVaultCluster starts n Vault nodes that join one Raft cluster
// (retry_join), initialises and unseals them, registers the plugin and
// enables the audit device.
func StartVaultCluster(tb testing.TB, n int) *VaultCluster {
	tb.Helper()
	dir := tb.TempDir()
	pluginDir, sha := pluginDirectory(tb, dir)
	c := &VaultCluster{PluginSHA: sha, AuditLog: filepath.Join(LogDir(tb), "vault-audit.log")}
	apiPorts, clusterPorts := make([]int, n), make([]int, n)
	for i := range n {
		apiPorts[i], clusterPorts[i] = FreePort(tb), FreePort(tb)
	}
	for i := range n {
		v := startRaftNode(tb, filepath.Join(dir, fmt.Sprintf("node%d", i+1)), pluginDir, i, apiPorts, clusterPorts)
		v.AuditLog, v.PluginSHA = c.AuditLog, sha
		c.Nodes = append(c.Nodes, v)
	}
	c.initAndUnseal(tb)
	c.WaitVoters(tb)
	c.setUp(tb)
	return c
}

// WaitVoters waits until every node is a voter of the Raft configuration:
// nodes join as non-voters and autopilot promotes them once stable; until
// then, losing the leader leaves no quorum.
func (c *VaultCluster) WaitVoters(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		leader := c.Leader()
		if leader != nil {
			if voters, err := RaftVoters(leader.Client); err == nil {
				if voters == len(c.Nodes) {
					return
				}
				last = fmt.Sprintf("%d of %d voters", voters, len(c.Nodes))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	tb.Fatalf("harness: the Raft cluster never had every node a voter (%s)", last)
}

// RaftVoters counts the voters in the Raft configuration client's Vault
// reports (sys/storage/raft/configuration).
func RaftVoters(client *api.Client) (int, error) {
	s, err := client.Logical().Read("sys/storage/raft/configuration")
	if err != nil {
		return 0, err
	}
	if s == nil {
		return 0, errors.New("no Raft configuration")
	}
	cfg, _ := s.Data["config"].(map[string]interface{})
	servers, _ := cfg["servers"].([]interface{})
	voters := 0
	for _, sv := range servers {
		if m, _ := sv.(map[string]interface{}); m != nil && m["voter"] == true {
			voters++
		}
	}
	return voters, nil
}

// startRaftNode starts the i-th node; its config joins the others.
func startRaftNode(tb testing.TB, dir, pluginDir string, i int, apiPorts, clusterPorts []int) *Vault {
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		tb.Fatal(err)
	}
	var joins strings.Builder
	for _, p := range apiPorts {
		fmt.Fprintf(&joins, "  retry_join { leader_api_addr = \"http://127.0.0.1:%d\" }\n", p)
	}
	conf := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = "node%d"
%s}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr         = "http://127.0.0.1:%d"
cluster_addr     = "https://127.0.0.1:%d"
disable_mlock    = true
plugin_directory = %q
`, filepath.Join(dir, "raft"), i+1, joins.String(), apiPorts[i], clusterPorts[i], apiPorts[i], clusterPorts[i], pluginDir)
	path := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	v := &Vault{Addr: fmt.Sprintf("http://127.0.0.1:%d", apiPorts[i]), PluginDir: pluginDir}
	v.Process = startProcess(tb, fmt.Sprintf("vault-%d", i+1), Tool(tb, "vault"),
		[]string{"server", "-config=" + path, "-log-level=debug"}, []string{"VAULT_ADDR=", "VAULT_TOKEN="})
	v.Client = NewVaultClient(tb, v.Addr, "")
	v.waitReady(60*time.Second, func() error { _, err := v.Client.Sys().SealStatus(); return err })
	return v
}

// NewVaultClient is a Vault API client of addr with token that does not
// retry (a test sees each failure).
func NewVaultClient(tb testing.TB, addr, token string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// initAndUnseal initialises the first node, unseals it, then unseals each
// other node once it joined.
func (c *VaultCluster) initAndUnseal(tb testing.TB) {
	tb.Helper()
	first := c.Nodes[0]
	init, err := first.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		tb.Fatalf("vault operator init: %v", err)
	}
	c.Token, c.UnsealKey = init.RootToken, init.Keys[0]
	for _, v := range c.Nodes {
		v.Token = c.Token
		v.Client.SetToken(c.Token)
		c.Unseal(tb, v)
	}
	c.WaitLeader(tb)
}

// Unseal unseals v (retrying while it has not joined the cluster yet) and
// waits until it is unsealed.
func (c *VaultCluster) Unseal(tb testing.TB, v *Vault) {
	tb.Helper()
	v.waitReady(90*time.Second, func() error {
		st, err := v.Client.Sys().Unseal(c.UnsealKey)
		if err != nil {
			return err
		}
		if st.Sealed {
			return fmt.Errorf("still sealed (initialized=%v)", st.Initialized)
		}
		return nil
	})
}

// WaitLeader waits until a node is the active one and returns it.
func (c *VaultCluster) WaitLeader(tb testing.TB) *Vault {
	tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if v := c.Leader(); v != nil {
			return v
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatal("harness: no active Vault node within 90s")
	return nil
}

// Leader is the active node (nil if none answers as active).
func (c *VaultCluster) Leader() *Vault {
	for _, v := range c.Nodes {
		if exited, _ := v.Exited(); exited {
			continue
		}
		l, err := v.Client.Sys().Leader()
		if err == nil && l.IsSelf && l.HAEnabled {
			return v
		}
	}
	return nil
}

// setUp registers the plugin and enables the audit device on the leader.
func (c *VaultCluster) setUp(tb testing.TB) {
	tb.Helper()
	leader := c.WaitLeader(tb)
	ctx := context.Background()
	if err := leader.Client.Sys().RegisterPluginWithContext(ctx, &api.RegisterPluginInput{
		Name: PluginName, Type: api.PluginTypeSecrets, Command: PluginName, SHA256: c.PluginSHA,
	}); err != nil {
		tb.Fatalf("register plugin: %v", err)
	}
	if err := leader.Client.Sys().EnableAuditWithOptionsWithContext(ctx, "file", &api.EnableAuditOptions{
		Type: "file", Options: map[string]string{"file_path": c.AuditLog},
	}); err != nil {
		tb.Fatalf("enable audit device: %v", err)
	}
}

// Addrs lists the nodes' API addresses.
func (c *VaultCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, v := range c.Nodes {
		out[i] = v.Addr
	}
	return out
}

// Restart brings a killed or stopped node back, with its Raft data, and
// unseals it.
func (c *VaultCluster) Restart(tb testing.TB, v *Vault) {
	tb.Helper()
	v.Start()
	v.waitReady(60*time.Second, func() error { _, err := v.Client.Sys().SealStatus(); return err })
	c.Unseal(tb, v)
}

// StepDown asks the active node to give up leadership.
func (c *VaultCluster) StepDown(tb testing.TB) {
	tb.Helper()
	leader := c.WaitLeader(tb)
	if err := leader.Client.Sys().StepDown(); err != nil {
		tb.Fatalf("step-down: %v", err)
	}
}

// Restart brings a killed or stopped server back; wipe empties its
// JetStream store first, as a node replaced with a new disk would come.
func (n *NATS) Restart(tb testing.TB, wipe bool) {
	tb.Helper()
	if exited, _ := n.Exited(); !exited {
		n.Kill()
	}
	if wipe {
		if err := os.RemoveAll(n.StoreDir); err != nil {
			tb.Fatal(err)
		}
	}
	n.Start()
	n.WaitHealthy()
}

// NodeNamed is the node whose server_name is name ("n1", "n2", …).
func (c *NATSCluster) NodeNamed(name string) *NATS {
	for i, node := range c.Nodes {
		if fmt.Sprintf("n%d", i+1) == name {
			return node
		}
	}
	return nil
}

// ClusterStack is the production topology on loopback: a 3-node NATS
// cluster, a 3-node Vault Raft cluster with the plugin mounted at
// StackMount (nats_replicas=3), relays (each registered) and Mailpit.
type ClusterStack struct {
	Domain  string
	DNS     *DNS
	NATS    *NATSCluster
	Vault   *VaultCluster
	Relays  []*Relay
	Mailpit *Mailpit
}

// StartClusterStack brings the cluster topology up with relays relays.
func StartClusterStack(tb testing.TB, relays int, relayArgs ...string) *ClusterStack {
	tb.Helper()
	s := &ClusterStack{Domain: "agents.cluster.test"}
	s.DNS = StartDNS(tb)
	s.NATS = StartNATSCluster(tb, 3)
	s.Mailpit = StartMailpit(tb)
	s.Vault = StartVaultCluster(tb, 3)
	leader := s.Vault.WaitLeader(tb)
	if err := leader.Client.Sys().Mount(StackMount, &api.MountInput{
		Type: PluginName, Config: api.MountConfigInput{AuditNonHMACResponseKeys: AuditNonHMACResponseKeys},
	}); err != nil {
		tb.Fatalf("mount: %v", err)
	}
	cfg := s.NATS.MountConfig()
	cfg["domain"], cfg["nats_replicas"] = s.Domain, 3
	if _, err := leader.Client.Logical().Write(StackMount+"/config", cfg); err != nil {
		tb.Fatalf("config: %v", err)
	}
	for i := range relays {
		key := filepath.Join(tb.TempDir(), "relay.key")
		RegisterRelay(tb, leader, StackMount, fmt.Sprintf("relay-%d", i+1), key)
		s.Relays = append(s.Relays, StartRelay(tb, RelayOptions{Domain: s.Domain, NATS: s.NATS.NATS, Smarthost: s.Mailpit.SMTPAddr,
			Resolver: s.DNS.Addr, KeyFile: key, Name: fmt.Sprintf("mailgent-relay-%d", i+1), Args: relayArgs}))
	}
	return s
}
