package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

// tofuRun is one OpenTofu working directory with its environment.
type tofuRun struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	logs *os.File
}

// run executes tofu with args and returns its exit code and output.
func (r *tofuRun) run(extraEnv []string, args ...string) (int, string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args = append(args, "-no-color")
	if args[0] != "output" {
		args = append(args, "-input=false")
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = append(append([]string{}, r.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(r.logs, "==== tofu %s\n%s\n", strings.Join(args, " "), out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(r.t, err, "tofu %s", strings.Join(args, " "))
	}
	return code, string(out)
}

// examples/terraform applied by a real OpenTofu (built from source into
// bin/) with the hashicorp/vault provider v1.9.0 from a filesystem mirror,
// against a real Vault with the plugin in its catalog and a real NATS:
// init, apply, a plan with no changes, an in-place credential update,
// a login with the AppRole role it made, and destroy.
func TestTerraformExampleAppliesPlansAndDestroys(t *testing.T) {
	tofu := harness.Tool(t, "tofu")
	mirror := filepath.Join(harness.RepoRoot(t), "bin", "terraform-mirror")
	n := harness.StartNATS(t)
	v := harness.StartVault(t)

	dir := t.TempDir()
	work := filepath.Join(dir, "terraform")
	require.NoError(t, os.CopyFS(filepath.Join(dir, "policies"), os.DirFS(filepath.Join(harness.RepoRoot(t), "examples", "policies"))))
	require.NoError(t, os.CopyFS(work, os.DirFS(filepath.Join(harness.RepoRoot(t), "examples", "terraform"))))
	cli := filepath.Join(dir, "cli.tfrc")
	require.NoError(t, os.WriteFile(cli, []byte(fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/vault", "registry.opentofu.org/hashicorp/vault"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*", "registry.opentofu.org/*/*"]
  }
}
`, mirror)), 0o600))
	relayKey, _, err := bus.LoadOrCreateRelayKey(filepath.Join(dir, "relay.key"))
	require.NoError(t, err)
	relayPub, err := relayKey.Public()
	require.NoError(t, err)
	reg := relayPub.Registration()
	logs, err := os.Create(filepath.Join(harness.LogDir(t), "tofu.log"))
	require.NoError(t, err)
	defer logs.Close()

	// Secrets by environment (TF_VAR_…), never on the command line.
	r := &tofuRun{t: t, bin: tofu, dir: work, logs: logs, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TF_CLI_CONFIG_FILE=" + cli, "TF_IN_AUTOMATION=1",
		"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token,
		"TF_VAR_plugin_sha256=" + v.PluginSHA,
		"TF_VAR_domain=agents.tf.example", "TF_VAR_nats_url=" + n.URL,
		"TF_VAR_nats_password=" + n.Password, "TF_VAR_nats_ca_cert=" + string(n.CACert),
		"TF_VAR_relay_signing_key=" + reg["signing_key"], "TF_VAR_relay_sealing_key=" + reg["sealing_key"],
		"TF_VAR_credential_totp_secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	}}
	pw1 := []string{"TF_VAR_credential_password=pw-tf-1"}

	code, out := r.run(nil, "init")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "hashicorp/vault v1.9.0")
	code, out = r.run(pw1, "apply", "-auto-approve")
	require.Equal(t, 0, code, out)
	code, out = r.run(pw1, "plan", "-detailed-exitcode")
	require.Equal(t, 0, code, "a plan right after apply must show no changes:\n%s", out)

	// What it made is what the plugin serves: the mount, bus up, the relay
	// registered, the agent with its credential.
	cfg, err := v.Client.Logical().Read("mailgent/config")
	require.NoError(t, err)
	require.Equal(t, "agents.tf.example", cfg.Data["domain"])
	require.Eventually(t, func() bool {
		c, err := v.Client.Logical().Read("mailgent/config")
		return err == nil && c.Data["bus_status"] == "connected"
	}, 30*time.Second, 100*time.Millisecond, "the plugin did not reach NATS with the config Terraform wrote")
	relay, err := v.Client.Logical().Read("mailgent/config/relays/relay-1")
	require.NoError(t, err)
	require.Equal(t, bus.KeyID(relayPub.SigningKey), relay.Data["key_id"])

	// An in-place credential update: a new version, nothing replaced.
	pw2 := []string{"TF_VAR_credential_password=pw-tf-2"}
	code, out = r.run(pw2, "plan", "-detailed-exitcode")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "vault_generic_endpoint.credential will be updated in-place")
	require.Contains(t, out, "Plan: 0 to add, 1 to change, 0 to destroy.")
	code, out = r.run(pw2, "apply", "-auto-approve")
	require.Equal(t, 0, code, out)

	// The agent logs in with the AppRole role and secret ID Terraform made
	// and reads its credential: version 2, the new password.
	outputs := map[string]struct {
		Value interface{} `json:"value"`
	}{}
	code, out = r.run(pw2, "output", "-json")
	require.Equal(t, 0, code, out)
	require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &outputs))
	ac, err := api.NewClient(&api.Config{Address: v.Addr})
	require.NoError(t, err)
	login, err := ac.Logical().Write("auth/approle/login", map[string]interface{}{
		"role_id": outputs["role_id"].Value, "secret_id": outputs["secret_id"].Value,
	})
	require.NoError(t, err)
	ac.SetToken(login.Auth.ClientToken)
	cred, err := client.New(ac, "mailgent", "billing-bot").GetCredential(context.Background(), "github.com", 0)
	require.NoError(t, err)
	require.Equal(t, "pw-tf-2", cred.Password)
	require.Equal(t, 2, cred.Version)
	_, err = client.New(ac, "mailgent", "someone-else").Messages(context.Background(), client.Filter{})
	require.Error(t, err, "the agent's token reaches only its own paths")

	code, out = r.run(pw2, "destroy", "-auto-approve")
	require.Equal(t, 0, code, out)
	mounts, err := v.Client.Sys().ListMounts()
	require.NoError(t, err)
	require.NotContains(t, mounts, "mailgent/", "destroy unmounts the engine")
}
