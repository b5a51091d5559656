package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/devcerts"
	"github.com/mailgent/mailgent/internal/harness"
)

// docker-compose.yml cannot be brought up here (no Docker engine). These
// tests check what can be checked without one: the file is consistent, and
// the configuration files it mounts bring up a real NATS cluster and a
// real Vault cluster with the plugin when run on loopback.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), rel))
	require.NoError(t, err)
	return string(b)
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var f composeFile
	require.NoError(t, yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &f))
	require.NotEmpty(t, f.Services)
	return f
}

// servicesWhere lists, sorted, the services for which keep is true.
func servicesWhere(f composeFile, keep func(composeService) bool) []string {
	var out []string
	for name, s := range f.Services {
		if keep(s) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// scriptDefault is the default a POSIX script gives NAME with `: "${NAME:=value}"`.
func scriptDefault(t *testing.T, script, name string) string {
	t.Helper()
	m := regexp.MustCompile(`: "\$\{` + name + `:=([^}]*)\}"`).FindStringSubmatch(script)
	require.NotNil(t, m, "no default for %s", name)
	return m[1]
}

func allMatches(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

func mapEach(names []string, format string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf(format, n)
	}
	return out
}

// Every service can start: an image, its dependencies exist (a health
// condition has a healthcheck), host ports are loopback-only and unique,
// named volumes are declared, bind mounts name files of the repository, of
// `make build` or of .data/.
func TestComposeFileIsConsistent(t *testing.T) {
	f := loadCompose(t)
	root := harness.RepoRoot(t)
	built := allMatches(`-o \$\(BIN\)/(\S+)`, readRepoFile(t, "Makefile"))
	usedVolumes := map[string]bool{}
	hostPorts := map[string]string{}
	for name, s := range f.Services {
		t.Run(name, func(t *testing.T) {
			require.True(t, s.Image != "" || s.Build != nil, "no image or build")
			for dep, d := range s.DependsOn {
				other, ok := f.Services[dep]
				require.True(t, ok, "depends on %s, which is no service", dep)
				if d.Condition == "service_healthy" {
					require.NotNil(t, other.Healthcheck, "waits for %s to be healthy, which has no healthcheck", dep)
				}
			}
			for _, p := range s.Ports {
				parts := strings.Split(p, ":")
				require.Len(t, parts, 3, "port %s: want 127.0.0.1:host:container", p)
				require.Equal(t, "127.0.0.1", parts[0], "port %s is published beyond loopback", p)
				require.Empty(t, hostPorts[parts[1]], "host port %s also used by %s", parts[1], hostPorts[parts[1]])
				hostPorts[parts[1]] = name
			}
			for _, v := range s.Volumes {
				src := strings.Split(v, ":")[0]
				switch {
				case strings.HasPrefix(src, "./bin/"):
					require.Contains(t, built, strings.TrimPrefix(src, "./bin/"), "%s is not made by make build", src)
				case strings.HasPrefix(src, "./.data/"):
				case strings.HasPrefix(src, "./"):
					_, err := os.Stat(filepath.Join(root, src))
					require.NoError(t, err, "bind mount %s", src)
				default:
					require.Contains(t, f.Volumes, src, "volume %s is not declared", src)
					usedVolumes[src] = true
				}
			}
		})
	}
	for v := range f.Volumes {
		require.True(t, usedVolumes[v], "volume %s is declared but mounted by no service", v)
	}
	header := strings.SplitN(readRepoFile(t, "docker-compose.yml"), "\nname:", 2)[0]
	for _, v := range allMatches(`\$\{(\w+):\?`, readRepoFile(t, "docker-compose.yml")) {
		require.Contains(t, header, "export "+v+"=", "the header does not say to set %s", v)
	}
}

// The compose topology is the production one, and its files agree: 3 Vault
// nodes that retry_join each other, 3 nats-servers routed to each other,
// 2 relays given every NATS URL, and an init script that registers those
// relays, talks to those nodes and sets nats_replicas to the NATS nodes.
func TestComposeTopologyMatchesItsFiles(t *testing.T) {
	f := loadCompose(t)
	vaults := servicesWhere(f, func(s composeService) bool { return slices.Contains(s.Command, "server") })
	nats := servicesWhere(f, func(s composeService) bool { return strings.HasPrefix(s.Image, "nats:") })
	relays := servicesWhere(f, func(s composeService) bool { return len(s.Command) > 0 && s.Command[0] == "/mailgent-relay" })
	require.Equal(t, []string{"vault-1", "vault-2", "vault-3"}, vaults)
	require.Equal(t, []string{"nats-1", "nats-2", "nats-3"}, nats)
	require.Equal(t, []string{"relay-1", "relay-2"}, relays)

	for _, v := range vaults {
		env := f.Services[v].Environment
		require.Equal(t, v, env["VAULT_RAFT_NODE_ID"], v)
		require.Equal(t, "https://"+v+":8200", env["VAULT_API_ADDR"], v)
		require.Equal(t, "https://"+v+":8201", env["VAULT_CLUSTER_ADDR"], v)
	}
	require.Equal(t, mapEach(vaults, "https://%s:8200"), allMatches(`leader_api_addr\s*=\s*"([^"]+)"`, readRepoFile(t, "deploy/vault/compose.hcl")))
	for _, n := range nats {
		require.Equal(t, n, f.Services[n].Environment["NATS_SERVER_NAME"], n)
	}
	require.Equal(t, mapEach(nats, "nats-route://%s:6222"), allMatches(`"(nats-route://[^"]+)"`, readRepoFile(t, "deploy/nats/compose.conf")))
	natsURL := strings.Join(mapEach(nats, "nats://%s:4222"), ",")
	for _, r := range relays {
		require.Equal(t, natsURL, f.Services[r].Environment["MAILGENT_NATS_URL"], r)
		require.NotContains(t, strings.Join(f.Services[r].Command, " "), "PASSWORD", r)
	}

	script := readRepoFile(t, "deploy/vault/compose-init.sh")
	require.Equal(t, strings.Join(relays, " "), scriptDefault(t, script, "RELAYS"))
	require.Equal(t, natsURL, scriptDefault(t, script, "NATS_URL"))
	require.Equal(t, strings.Join(mapEach(vaults, "https://%s:8200"), " "), scriptDefault(t, script, "VAULT_ADDRS"))
	require.Equal(t, fmt.Sprint(len(nats)), scriptDefault(t, script, "NATS_REPLICAS"))
	// The plugin's NATS password is used once: written to a 0600 file for
	// the Vault write (@file), never as a command's argument.
	for _, line := range strings.Split(script, "\n") {
		if strings.Contains(line, "$MAILGENT_NATS_PLUGIN_PASSWORD") || strings.Contains(line, "${MAILGENT_NATS_PLUGIN_PASSWORD") {
			require.Regexp(t, `^(: "\$\{MAILGENT_NATS_PLUGIN_PASSWORD:\?|\s*\(umask 077 && printf %s "\$MAILGENT_NATS_PLUGIN_PASSWORD" >)`, line)
		}
	}
}

// rewrite applies old→new pairs to a configuration file for loopback,
// failing when an old string is absent: the file changed under the test.
func rewrite(t *testing.T, name, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i], "%s no longer contains %q", name, pairs[i])
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// composeNATS runs deploy/nats/compose.conf as three loopback nodes.
type composeNATS struct {
	urls                          []string
	pluginPassword, relayPassword string
	monitors                      []string
	nodes                         []*harness.Process
}

func startComposeNATS(t *testing.T, dir string, certs devcerts.Files) *composeNATS {
	conf := readRepoFile(t, "deploy/nats/compose.conf")
	users := readRepoFile(t, "deploy/nats/mailgent-users.conf")
	c := &composeNATS{pluginPassword: harness.RandomSecret(), relayPassword: harness.RandomSecret()}
	routes := []int{harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)}
	for i := range 3 {
		node := filepath.Join(dir, fmt.Sprintf("nats-%d", i+1))
		require.NoError(t, os.MkdirAll(node, 0o700))
		port, mport := harness.FreePort(t), harness.FreePort(t)
		pairs := []string{"/tls/server.pem", certs.Cert, "/tls/server-key.pem", certs.Key, "/tls/ca.pem", certs.CA,
			`"/data"`, fmt.Sprintf("%q", filepath.Join(node, "jetstream")),
			"0.0.0.0:4222", fmt.Sprintf("127.0.0.1:%d", port), "0.0.0.0:8222", fmt.Sprintf("127.0.0.1:%d", mport),
			"0.0.0.0:6222", fmt.Sprintf("127.0.0.1:%d", routes[i])}
		for j, r := range routes {
			pairs = append(pairs, fmt.Sprintf("nats-%d:6222", j+1), fmt.Sprintf("localhost:%d", r))
		}
		require.NoError(t, os.WriteFile(filepath.Join(node, "nats.conf"), []byte(rewrite(t, "compose.conf", conf, pairs...)), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(node, "mailgent-users.conf"), []byte(users), 0o600))
		p := harness.StartProcess(t, fmt.Sprintf("nats-%d", i+1), harness.Tool(t, "nats-server"), []string{"-c", filepath.Join(node, "nats.conf")},
			[]string{fmt.Sprintf("NATS_SERVER_NAME=nats-%d", i+1),
				"MAILGENT_NATS_PLUGIN_PASSWORD=" + c.pluginPassword, "MAILGENT_NATS_RELAY_PASSWORD=" + c.relayPassword})
		c.nodes = append(c.nodes, p)
		c.urls = append(c.urls, fmt.Sprintf("nats://localhost:%d", port))
		c.monitors = append(c.monitors, fmt.Sprintf("http://127.0.0.1:%d", mport))
	}
	for i, p := range c.nodes {
		// healthz is 200 once JetStream has a meta leader: the TLS routes work.
		p.WaitReady(60*time.Second, func() error { return getOK(c.monitors[i] + "/healthz") })
	}
	return c
}

func getOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// composeVault runs deploy/vault/compose.hcl as three loopback nodes.
type composeVault struct {
	addrs []string
	nodes []*harness.Process
}

func startComposeVault(t *testing.T, dir string, certs devcerts.Files, pluginDir string) *composeVault {
	hcl := readRepoFile(t, "deploy/vault/compose.hcl")
	apiPorts := []int{harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)}
	clusterPorts := []int{harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)}
	c := &composeVault{}
	for i := range 3 {
		node := filepath.Join(dir, fmt.Sprintf("vault-%d", i+1))
		require.NoError(t, os.MkdirAll(filepath.Join(node, "raft"), 0o700))
		pairs := []string{"/tls/server.pem", certs.Cert, "/tls/server-key.pem", certs.Key, "/tls/ca.pem", certs.CA,
			"/vault/plugins", pluginDir,
			"0.0.0.0:8200", fmt.Sprintf("127.0.0.1:%d", apiPorts[i]), "0.0.0.0:8201", fmt.Sprintf("127.0.0.1:%d", clusterPorts[i])}
		for j, p := range apiPorts {
			pairs = append(pairs, fmt.Sprintf("https://vault-%d:8200", j+1), fmt.Sprintf("https://localhost:%d", p))
		}
		path := filepath.Join(node, "vault.hcl")
		require.NoError(t, os.WriteFile(path, []byte(rewrite(t, "compose.hcl", hcl, pairs...)), 0o600))
		addr := fmt.Sprintf("https://localhost:%d", apiPorts[i])
		// What the compose service gives each node by environment.
		p := harness.StartProcess(t, fmt.Sprintf("vault-%d", i+1), harness.Tool(t, "vault"), []string{"server", "-config=" + path},
			[]string{"VAULT_ADDR=", "VAULT_TOKEN=", fmt.Sprintf("VAULT_RAFT_NODE_ID=vault-%d", i+1), "VAULT_RAFT_PATH=" + filepath.Join(node, "raft"),
				"VAULT_API_ADDR=" + addr, fmt.Sprintf("VAULT_CLUSTER_ADDR=https://127.0.0.1:%d", clusterPorts[i])})
		c.nodes, c.addrs = append(c.nodes, p), append(c.addrs, addr)
	}
	for i, p := range c.nodes {
		client := tlsVaultClient(t, c.addrs[i], certs.CA, "")
		p.WaitReady(60*time.Second, func() error { _, err := client.Sys().SealStatus(); return err })
	}
	return c
}

func tlsVaultClient(t *testing.T, addr, caFile, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = addr, 0
	require.NoError(t, cfg.ConfigureTLS(&api.TLSConfig{CACert: caFile}))
	c, err := api.NewClient(cfg)
	require.NoError(t, err)
	c.SetToken(token)
	return c
}

// runComposeInit runs deploy/vault/compose-init.sh as the vault-init
// service would, with env, and returns what it printed.
func runComposeInit(t *testing.T, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(harness.RepoRoot(t), "deploy", "vault", "compose-init.sh"))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "compose-init.sh:\n%s", out)
	return string(out)
}

// The files docker-compose.yml mounts, run on loopback without Docker:
// deploy/nats/compose.conf as a 3-node NATS cluster (TLS routes),
// deploy/vault/compose.hcl as a 3-node Vault Raft cluster (TLS listener,
// retry_join over TLS), and deploy/vault/compose-init.sh initialising,
// unsealing and configuring them: the plugin mounted, its bus connected
// with every stream and bucket at 3 replicas, both relays registered. Run
// again after a node restarted sealed, the script unseals it and changes
// nothing else.
func TestComposeConfigsBringUpTheCluster(t *testing.T) {
	dir := t.TempDir()
	certs, err := devcerts.Generate(filepath.Join(dir, "tls"), []string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	nats := startComposeNATS(t, dir, certs)
	pluginDir := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(pluginDir, 0o755))
	plugin, err := os.ReadFile(harness.Own(t, harness.PluginName))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(pluginDir, harness.PluginName), plugin, 0o755))
	vault := startComposeVault(t, dir, certs, pluginDir)

	secrets, registrations := filepath.Join(dir, "secrets"), filepath.Join(dir, "registrations")
	require.NoError(t, os.Mkdir(secrets, 0o700))
	require.NoError(t, os.Mkdir(registrations, 0o700))
	for _, r := range []string{"relay-1", "relay-2"} {
		out, err := exec.Command(harness.Own(t, "mailgent-relay"), "-print-registration", "-key-file", filepath.Join(dir, r+".key")).Output()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(registrations, r+".registration"), out, 0o600))
	}
	env := []string{"PATH=" + filepath.Dir(harness.Tool(t, "vault")) + ":" + os.Getenv("PATH"),
		"VAULT_ADDRS=" + strings.Join(vault.addrs, " "), "VAULT_CACERT=" + certs.CA, "VAULT_TOKEN=", "VAULT_NAMESPACE=",
		"SECRETS_DIR=" + secrets, "PLUGIN_FILE=" + filepath.Join(pluginDir, harness.PluginName), "REGISTRATIONS_DIR=" + registrations,
		"NATS_URL=" + strings.Join(nats.urls, ","), "NATS_CA_FILE=" + certs.CA,
		"AUDIT_FILE=" + filepath.Join(harness.LogDir(t), "vault-audit.log"),
		"MAILGENT_DOMAIN=compose.test", "MAILGENT_NATS_PLUGIN_PASSWORD=" + nats.pluginPassword}
	out := runComposeInit(t, env)
	t.Logf("compose-init.sh:\n%s", out)
	require.Contains(t, out, "vault-init: ready")
	token := checkSecretsKept(t, secrets, out, nats.pluginPassword)
	checkComposeCluster(t, vault, nats, certs.CA, token)

	// A node restarted on its own comes back sealed; the script, run again,
	// unseals it, keeps the root token and registers nothing again.
	vault.nodes[1].Stop()
	vault.nodes[1].Start()
	node2 := tlsVaultClient(t, vault.addrs[1], certs.CA, "")
	vault.nodes[1].WaitReady(60*time.Second, func() error {
		st, err := node2.Sys().SealStatus()
		if err == nil && !st.Sealed {
			return fmt.Errorf("unsealed before the script ran")
		}
		return err
	})
	out = runComposeInit(t, env)
	require.NotContains(t, out, "initialising")
	require.NotContains(t, out, "registering")
	st, err := node2.Sys().SealStatus()
	require.NoError(t, err)
	require.False(t, st.Sealed, "the script did not unseal the restarted node")
	require.Equal(t, token, checkSecretsKept(t, secrets, out, nats.pluginPassword))
}

// checkSecretsKept checks the init script kept the unseal key and root
// token in 0600 files and printed neither (nor the NATS password); it
// returns the root token.
func checkSecretsKept(t *testing.T, secrets, out, natsPassword string) string {
	t.Helper()
	kept := map[string]string{}
	for _, name := range []string{"unseal-key", "root-token"} {
		path := filepath.Join(secrets, name)
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NotEmpty(t, b, name)
		require.NotContains(t, out, string(b), "the script printed its %s", name)
		kept[name] = string(b)
	}
	entries, err := os.ReadDir(secrets)
	require.NoError(t, err)
	require.Len(t, entries, 2, "the script left other files behind (the init response, the NATS password)")
	require.NotContains(t, out, natsPassword)
	return kept["root-token"]
}

// checkComposeCluster checks what `make dev-cluster` has: every node a
// voter, the mount configured with nats_replicas=3 and its bus connected,
// every stream and bucket at 3 replicas, both relays registered, health 200.
func checkComposeCluster(t *testing.T, vault *composeVault, nats *composeNATS, caFile, token string) {
	t.Helper()
	c := tlsVaultClient(t, vault.addrs[2], caFile, token) // a standby, most likely: it forwards
	peers, err := c.Logical().Read("sys/storage/raft/configuration")
	require.NoError(t, err)
	servers := peers.Data["config"].(map[string]interface{})["servers"].([]interface{})
	require.Len(t, servers, 3)
	for _, s := range servers {
		require.Equal(t, true, s.(map[string]interface{})["voter"], "%v", s)
	}
	require.Eventually(t, func() bool {
		cfg, err := c.Logical().Read("mailgent/config")
		return err == nil && cfg.Data["bus_status"] == "connected"
	}, 60*time.Second, 500*time.Millisecond, "the plugin's bus never connected")
	cfg, err := c.Logical().Read("mailgent/config")
	require.NoError(t, err)
	require.Equal(t, "3", fmt.Sprint(cfg.Data["nats_replicas"]))
	relays, err := c.Logical().List("mailgent/config/relays")
	require.NoError(t, err)
	require.ElementsMatch(t, []interface{}{"relay-1", "relay-2"}, relays.Data["keys"])
	health, err := tlsVaultClient(t, vault.addrs[1], caFile, "").Logical().Read("mailgent/health")
	require.NoError(t, err)
	require.Equal(t, true, health.Data["ok"])
	policies, err := c.Sys().ListPolicies()
	require.NoError(t, err)
	require.Subset(t, policies, []string{"mailgent-admin", "mailgent-admin-strict"})

	ca, err := os.ReadFile(caFile)
	require.NoError(t, err)
	nc, err := bus.Connect(bus.Options{URL: strings.Join(nats.urls, ","), Username: harness.NATSPluginUser, Password: nats.pluginPassword, CACert: ca})
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	streams := []string{bus.InboundStream, "KV_" + bus.DirectoryBucket, "OBJ_" + bus.InboundBlobBucket,
		bus.OutboundStream, bus.StatusStream, "KV_" + bus.DeliveryBucket, "OBJ_" + bus.OutboundBlobBucket}
	for _, name := range streams {
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			st, err := js.Stream(ctx, name)
			return err == nil && st.CachedInfo().Config.Replicas == 3
		}, 60*time.Second, 500*time.Millisecond, "stream %s never had 3 replicas", name)
	}
}
