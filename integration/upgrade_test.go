package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// buildVersionedPlugin builds the plugin reporting version into dir, named
// as docs/deploy.md says (vault-plugin-mailgent-<version>), and returns its
// SHA-256.
func buildVersionedPlugin(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, harness.PluginName+"-"+version)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-X github.com/mailgent/mailgent/internal/version.Version="+version, "-o", out, "./cmd/"+harness.PluginName)
	cmd.Dir = harness.RepoRoot(t)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	bin, err := os.ReadFile(out)
	require.NoError(t, err)
	sum := sha256.Sum256(bin)
	return hex.EncodeToString(sum[:])
}

// vaultCLI runs the vault CLI as an operator would, returning its output.
func vaultCLI(t *testing.T, addr, token string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Tool(t, "vault"), args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+addr, "VAULT_TOKEN="+token, "VAULT_NAMESPACE=", "VAULT_CACERT=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "vault %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// The plugin upgrade and rollback of docs/deploy.md, with its commands:
// two versions side by side in the plugin directory, registered by SHA-256
// and version; the mount tuned to the new one and reloaded, then back.
// Data written under one version reads under the other, and health says
// which version answered.
func TestPluginUpgradeAndRollbackByVersion(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(plugins, 0o755))
	const v1, v2 = "v0.90.0", "v0.91.0"
	sha := map[string]string{v1: buildVersionedPlugin(t, plugins, v1), v2: buildVersionedPlugin(t, plugins, v2)}
	conf := filepath.Join(dir, "vault.hcl")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf("plugin_directory = %q\n", plugins)), 0o600))
	port, token := harness.FreePort(t), "root-"+harness.RandomSecret()
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := harness.StartProcess(t, "vault", harness.Tool(t, "vault"),
		[]string{"server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-no-store-token", "-config=" + conf},
		[]string{"VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_DEV_ROOT_TOKEN_ID=" + token})
	client := harness.NewVaultClient(t, addr, token)
	p.WaitReady(60*time.Second, func() error { _, err := client.Sys().Health(); return err })
	vault := func(args ...string) string { return vaultCLI(t, addr, token, args...) }
	register := func(t *testing.T, v string) {
		vaultCLI(t, addr, token, "plugin", "register", "-sha256="+sha[v], "-version="+v, "-command="+harness.PluginName+"-"+v, "secret", harness.PluginName)
	}
	register(t, v1)
	vault("secrets", "enable", "-path=mailgent", "-plugin-version="+v1, harness.PluginName)
	vault("write", "mailgent/config", "domain=upgrade.test")
	vault("write", "mailgent/orgs/acme", "description=x")
	vault("write", "mailgent/agents/bot", "org=acme")
	vault("write", "mailgent/agents/bot/creds/site", "password=pw-before-upgrade")
	require.Equal(t, v1, vault("read", "-field=version", "mailgent/health"))

	// Both reloads the guide gives: every mount of the plugin, or one mount
	// (`vault plugin reload -mounts=…` alone is a 404 with Vault 1.21.0's CLI).
	for _, step := range []struct {
		name, version string
		reload        []string
	}{
		{"upgrade", v2, []string{"plugin", "reload", "-type=secret", "-plugin=" + harness.PluginName}},
		{"rollback", v1, []string{"write", "sys/plugins/reload/backend", "mounts=mailgent/"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			vault := func(args ...string) string { return vaultCLI(t, addr, token, args...) }
			if step.version == v2 {
				register(t, v2)
			}
			vault("secrets", "tune", "-plugin-version="+step.version, "mailgent/")
			vault(step.reload...)
			require.Eventually(t, func() bool {
				h, err := client.Logical().Read("mailgent/health")
				return err == nil && h.Data["version"] == step.version
			}, 30*time.Second, 200*time.Millisecond, "health never reported %s", step.version)
			require.Equal(t, "pw-before-upgrade", vault("read", "-field=password", "mailgent/agents/bot/creds/site"))
			require.Contains(t, vault("secrets", "list", "-detailed"), step.version)
		})
	}
	vault("plugin", "deregister", "-version="+v2, "secret", harness.PluginName)
}
