package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/devcerts"
)

// PluginName is the plugin's name in Vault's catalog.
const PluginName = "vault-plugin-mailgent"

// RandomSecret returns 32 random hex characters, for generated dev and
// test credentials.
func RandomSecret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// NATS is a running nats-server with JetStream, TLS (a throwaway CA) and
// Mailgent's two users with their permissions (deploy/nats).
type NATS struct {
	*Process
	URL string
	// Username and Password are the plugin's user: everything the plugin
	// may do, which is what tests that inspect the bus use too.
	Username string
	Password string
	// RelayUsername and RelayPassword are the relays' user.
	RelayUsername string
	RelayPassword string
	// CAFile and CACert are the CA the server's certificate chains to.
	CAFile string
	CACert []byte
	// MonitorURL is the HTTP monitoring endpoint (/healthz, /jsz).
	MonitorURL string
	StoreDir   string
}

// NATS user names of deploy/nats/mailgent-users.conf.
const (
	NATSPluginUser = "mailgent-plugin"
	NATSRelayUser  = "mailgent-relay"
)

// StartNATS starts nats-server with JetStream on free loopback ports. Its
// store survives Stop/Start, as a real server's would.
func StartNATS(tb testing.TB) *NATS {
	tb.Helper()
	dir := tb.TempDir()
	port, mport := FreePort(tb), FreePort(tb)
	n := &NATS{
		URL:      fmt.Sprintf("nats://127.0.0.1:%d", port),
		Username: NATSPluginUser, Password: RandomSecret(),
		RelayUsername: NATSRelayUser, RelayPassword: RandomSecret(),
		MonitorURL: fmt.Sprintf("http://127.0.0.1:%d", mport),
		StoreDir:   filepath.Join(dir, "jetstream"),
	}
	certs, err := devcerts.Generate(filepath.Join(dir, "tls"), []string{"localhost", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	n.CAFile = certs.CA
	if n.CACert, err = os.ReadFile(certs.CA); err != nil {
		tb.Fatal(err)
	}
	writeNATSConfig(tb, dir, fmt.Sprintf(`listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream { store_dir: %q }
tls { cert_file: %q, key_file: %q, timeout: 2 }
include "mailgent-users.conf"
`, port, mport, n.StoreDir, certs.Cert, certs.Key))
	n.Process = startProcess(tb, "nats-server", Tool(tb, "nats-server"), []string{"-c", filepath.Join(dir, "nats.conf")},
		[]string{"MAILGENT_NATS_PLUGIN_PASSWORD=" + n.Password, "MAILGENT_NATS_RELAY_PASSWORD=" + n.RelayPassword})
	n.WaitReady()
	return n
}

// writeNATSConfig writes nats.conf into dir beside a copy of the users'
// file it includes (nats-server resolves includes relative to the file).
func writeNATSConfig(tb testing.TB, dir, conf string) {
	tb.Helper()
	users, err := os.ReadFile(filepath.Join(RepoRoot(tb), "deploy", "nats", "mailgent-users.conf"))
	if err != nil {
		tb.Fatal(err)
	}
	for name, data := range map[string][]byte{"mailgent-users.conf": users, "nats.conf": []byte(conf)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// Options returns bus options for the plugin's user (with the CA).
func (n *NATS) Options(name string) bus.Options {
	return bus.Options{URL: n.URL, Username: n.Username, Password: n.Password, CACert: n.CACert, Name: name}
}

// RelayOptions returns bus options for the relays' user.
func (n *NATS) RelayOptions(name string) bus.Options {
	return bus.Options{URL: n.URL, Username: n.RelayUsername, Password: n.RelayPassword, CACert: n.CACert, Name: name}
}

// MountConfig is the mount's bus configuration for this server.
func (n *NATS) MountConfig() map[string]interface{} {
	return map[string]interface{}{"nats_url": n.URL, "nats_username": n.Username, "nats_password": n.Password, "nats_ca_cert": string(n.CACert)}
}

// WaitReady waits until JetStream answers its health check (after a Start).
func (n *NATS) WaitReady() {
	n.tb.Helper()
	n.waitReady(30*time.Second, func() error { return httpOK(n.MonitorURL + "/healthz?js-enabled-only=true") })
}

// Vault is a running Vault dev server with a file audit device, whose
// plugin directory holds a fresh build of the mailgent plugin.
type Vault struct {
	*Process
	Addr      string
	Token     string
	Client    *api.Client
	AuditLog  string
	PluginSHA string
	// PluginDir is Vault's plugin_directory (shared by a cluster's nodes).
	PluginDir string
}

// RegisterPlugin copies the secrets-engine plugin binary into Vault's
// plugin directory as name and registers it in the catalog by SHA-256.
func (v *Vault) RegisterPlugin(tb testing.TB, name, binary string) {
	tb.Helper()
	sha, err := copyFile(binary, filepath.Join(v.PluginDir, name), 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.Client.Sys().RegisterPluginWithContext(context.Background(), &api.RegisterPluginInput{
		Name: name, Type: api.PluginTypeSecrets, Command: name, SHA256: sha,
	}); err != nil {
		tb.Fatalf("register plugin %s: %v", name, err)
	}
}

// pluginDirectory makes dir/plugins holding a fresh build of the plugin
// and returns it with the binary's SHA-256.
func pluginDirectory(tb testing.TB, dir string) (string, string) {
	tb.Helper()
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pluginDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	sha, err := copyFile(Own(tb, PluginName), filepath.Join(pluginDir, PluginName), 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	return pluginDir, sha
}

// StartVault starts `vault server -dev` on a free loopback port, registers
// the mailgent plugin in the catalog by SHA-256, and enables a file audit
// device. Mount the plugin with MountMailgent.
func StartVault(tb testing.TB) *Vault {
	tb.Helper()
	dir := tb.TempDir()
	pluginDir, sha := pluginDirectory(tb, dir)
	confPath := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(confPath, []byte(fmt.Sprintf("plugin_directory = %q\n", pluginDir)), 0o600); err != nil {
		tb.Fatal(err)
	}
	port := FreePort(tb)
	v := &Vault{
		Addr:      fmt.Sprintf("http://127.0.0.1:%d", port),
		Token:     "root-" + RandomSecret(),
		AuditLog:  filepath.Join(LogDir(tb), "vault-audit.log"),
		PluginSHA: sha,
		PluginDir: pluginDir,
	}
	v.Process = startProcess(tb, "vault", Tool(tb, "vault"), []string{
		"server", "-dev",
		"-dev-listen-address=127.0.0.1:" + fmt.Sprint(port),
		"-dev-no-store-token",
		"-config=" + confPath,
		"-log-level=debug",
	}, []string{"VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_DEV_ROOT_TOKEN_ID=" + v.Token}) // the root token by environment: a command line is world-readable

	client := NewVaultClient(tb, v.Addr, v.Token)
	v.Client = client
	v.waitReady(60*time.Second, func() error {
		h, err := client.Sys().Health()
		if err != nil {
			return err
		}
		if !h.Initialized || h.Sealed {
			return fmt.Errorf("initialized=%v sealed=%v", h.Initialized, h.Sealed)
		}
		return nil
	})

	ctx := context.Background()
	if err := client.Sys().RegisterPluginWithContext(ctx, &api.RegisterPluginInput{
		Name:    PluginName,
		Type:    api.PluginTypeSecrets,
		Command: PluginName,
		SHA256:  sha,
	}); err != nil {
		tb.Fatalf("register plugin: %v", err)
	}
	if err := client.Sys().EnableAuditWithOptionsWithContext(ctx, "file", &api.EnableAuditOptions{
		Type:    "file",
		Options: map[string]string{"file_path": v.AuditLog},
	}); err != nil {
		tb.Fatalf("enable audit device: %v", err)
	}
	return v
}

// AuditNonHMACResponseKeys are the response fields Vault's audit devices
// log in clear for the mailgent mount (scripts/dev-vault.sh sets the same):
// who and what, never a secret — passwords, codes and fields stay HMAC'd.
var AuditNonHMACResponseKeys = []string{
	"agent", "org", "address", "delegation_chain", "credential", "version",
	"current_version", "status", "outcome", "event_id", "valid_until", "seconds_remaining",
}

// MountMailgent mounts the plugin at path (e.g. "mailgent") and, when cfg
// is not nil, writes <path>/config with it.
func (v *Vault) MountMailgent(tb testing.TB, path string, cfg map[string]interface{}) {
	tb.Helper()
	if err := v.Client.Sys().Mount(path, &api.MountInput{
		Type:   PluginName,
		Config: api.MountConfigInput{AuditNonHMACResponseKeys: AuditNonHMACResponseKeys},
	}); err != nil {
		tb.Fatalf("mount %s: %v", path, err)
	}
	if cfg != nil {
		if _, err := v.Client.Logical().Write(path+"/config", cfg); err != nil {
			tb.Fatalf("write %s/config: %v", path, err)
		}
	}
}

// Relay is a running mailgent-relay.
type Relay struct {
	*Process
	// Addr is the SMTP address, host:port.
	Addr string
	// KeyFile is the relay's key (see RegisterRelay).
	KeyFile string
	// MetricsURL is where it serves Prometheus metrics.
	MetricsURL string
}

// RelayOptions configure StartRelay.
type RelayOptions struct {
	Domain string
	NATS   *NATS
	// Smarthost (host:port), when set, turns outbound delivery on: the
	// relay delivers there without TLS (Mailpit in the whole stack).
	Smarthost string
	// Resolver (host:port) is the DNS server of the relay's sender
	// authentication, normally a DNS's Addr. Empty: StartRelay starts a
	// DNS server of its own that knows no names, so lookups never leave
	// the machine and all mail is unverified.
	Resolver string
	// KeyFile is the relay's key file; empty: a new one in a temporary
	// directory. Register it with RegisterRelay for mail to flow.
	KeyFile string
	// Name is the process's name in logs (default mailgent-relay).
	Name string
	// Args are extra command-line flags.
	Args []string
}

// StartRelay starts mailgent-relay and waits for its SMTP greeting.
func StartRelay(tb testing.TB, o RelayOptions) *Relay {
	tb.Helper()
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(tb.TempDir(), "relay.key")
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	r := &Relay{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(tb)), KeyFile: o.KeyFile, MetricsURL: "http://" + metrics + "/metrics"}
	if o.Resolver == "" {
		o.Resolver = StartDNS(tb).Addr
	}
	args := []string{"-listen", r.Addr, "-domain", o.Domain, "-log-level", "debug", "-resolver", o.Resolver, "-key-file", o.KeyFile, "-metrics-listen", metrics}
	var env []string
	if o.NATS != nil {
		args = append(args, "-nats-url", o.NATS.URL, "-nats-user", o.NATS.RelayUsername, "-nats-ca-file", o.NATS.CAFile)
		env = append(env, "MAILGENT_NATS_PASSWORD="+o.NATS.RelayPassword)
	}
	if o.Smarthost != "" {
		args = append(args, "-smarthost", o.Smarthost, "-smarthost-tls", "none")
	}
	args = append(args, o.Args...)
	if o.Name == "" {
		o.Name = "mailgent-relay"
	}
	r.Process = startProcess(tb, o.Name, Own(tb, "mailgent-relay"), args, env)
	r.WaitReady()
	return r
}

// WaitReady waits until the relay answers with its 220 greeting.
func (r *Relay) WaitReady() {
	r.tb.Helper()
	r.waitReady(30*time.Second, func() error {
		_, err := SMTPGreeting(r.Addr)
		return err
	})
}

// SMTPGreeting connects to an SMTP server and returns its greeting line.
func SMTPGreeting(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "220") {
		return line, fmt.Errorf("greeting %q", line)
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return line, nil
}

// Mailpit is a running Mailpit: an SMTP server and a web UI/API.
type Mailpit struct {
	*Process
	SMTPAddr string
	URL      string
}

// StartMailpit starts Mailpit on free loopback ports.
func StartMailpit(tb testing.TB) *Mailpit {
	tb.Helper()
	m := &Mailpit{
		SMTPAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(tb)),
		URL:      fmt.Sprintf("http://127.0.0.1:%d", FreePort(tb)),
	}
	m.Process = startProcess(tb, "mailpit", Tool(tb, "mailpit"), []string{
		"--listen", strings.TrimPrefix(m.URL, "http://"),
		"--smtp", m.SMTPAddr,
		"--database", filepath.Join(tb.TempDir(), "mailpit.db"),
		"--disable-version-check",
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
	}, nil)
	m.waitReady(30*time.Second, func() error { return httpOK(m.URL + "/readyz") })
	return m
}

func httpOK(url string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// Stack is the whole Mailgent stack: a DNS server, NATS, Vault with the
// plugin mounted at "mailgent" and configured, the relay (sender
// authentication on, asking the DNS server) and Mailpit.
type Stack struct {
	Domain string
	// DNS serves the relay's sender authentication: add test senders with
	// Stack.DNS.Sender.
	DNS     *DNS
	NATS    *NATS
	Vault   *Vault
	Relay   *Relay
	Mailpit *Mailpit
}

// StackMount is where Start mounts the plugin.
const StackMount = "mailgent"

// StackOptions change what Start brings up.
type StackOptions struct {
	// RelayArgs are extra flags of the relay (e.g. rate limits).
	RelayArgs []string
	// Raft runs Vault as one node on integrated storage (fsync on every
	// commit, as production) instead of a dev server (in memory).
	Raft bool
}

// Start brings up the whole stack for one test.
func Start(tb testing.TB) *Stack {
	tb.Helper()
	return StartStack(tb, StackOptions{})
}

// StartStack brings up the whole stack with o.
func StartStack(tb testing.TB, o StackOptions) *Stack {
	tb.Helper()
	s := &Stack{Domain: "agents.mailgent.test"}
	s.DNS = StartDNS(tb)
	s.NATS = StartNATS(tb)
	s.Mailpit = StartMailpit(tb)
	if o.Raft {
		s.Vault = StartVaultCluster(tb, 1).WaitLeader(tb)
	} else {
		s.Vault = StartVault(tb)
	}
	cfg := s.NATS.MountConfig()
	cfg["domain"] = s.Domain
	s.Vault.MountMailgent(tb, StackMount, cfg)
	// The relay's key is registered before it starts, as an operator would.
	key := filepath.Join(tb.TempDir(), "relay.key")
	RegisterRelay(tb, s.Vault, StackMount, "relay-1", key)
	s.Relay = StartRelay(tb, RelayOptions{Domain: s.Domain, NATS: s.NATS, Smarthost: s.Mailpit.SMTPAddr, Resolver: s.DNS.Addr, KeyFile: key, Args: o.RelayArgs})
	return s
}

// RegisterRelay registers the relay key at keyFile (made if missing) with
// the mount as relay name: what `vault write <mount>/config/relays/<name>
// $(mailgent-relay -print-registration -key-file …)` does.
func RegisterRelay(tb testing.TB, v *Vault, mount, name, keyFile string) {
	tb.Helper()
	key, _, err := bus.LoadOrCreateRelayKey(keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		tb.Fatal(err)
	}
	data := map[string]interface{}{}
	for k, val := range pub.Registration() {
		data[k] = val
	}
	if _, err := v.Client.Logical().Write(mount+"/config/relays/"+name, data); err != nil {
		tb.Fatalf("register relay %s: %v", name, err)
	}
}
