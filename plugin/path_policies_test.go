package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// testMountAccessor is the accessor Vault would send for the test mount.
const testMountAccessor = "vault-plugin-mailgent_1a2b3c4d"

// parsedPolicy is what Vault reads of a policy: path → rule.
type parsedPolicy struct {
	Path map[string]struct {
		Capabilities      []string                 `hcl:"capabilities"`
		AllowedParameters []map[string]interface{} `hcl:"allowed_parameters"`
	} `hcl:"path"`
}

func parsePolicy(t *testing.T, text string) parsedPolicy {
	t.Helper()
	var p parsedPolicy
	require.NoError(t, hcl.Decode(&p, text), text)
	return p
}

func TestAgentPolicyIsScopedToTheAgent(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/policy", nil)
	hcl := resp.Data["policy"].(string)
	require.Equal(t, "mailgent-"+testMountAccessor+"-agent-bot", resp.Data["name"])
	require.Equal(t, "mailgent-"+testMountAccessor+"-bot", resp.Data["role"])
	paths := parsePolicy(t, hcl).Path
	require.Len(t, paths, 14)
	for p := range paths {
		require.True(t, p == "mailgent/agents/bot" || strings.HasPrefix(p, "mailgent/agents/bot/"), "a rule beyond the agent: %s", p)
	}
	require.NotContains(t, hcl, "orgs/")
	require.NotContains(t, hcl, "config")
}

// The templated policy grants, for the agent its template resolves to,
// exactly what the standalone policy grants that agent.
func TestTemplatedPolicyMatchesStandalone(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	resp := tb.ok(t, logical.ReadOperation, "agent-policy", map[string]interface{}{"approle_accessor": "auth_approle_0badc0de"})
	require.Equal(t, "mailgent-"+testMountAccessor+"-agents", resp.Data["name"])
	require.Equal(t, "mailgent-"+testMountAccessor+"-", resp.Data["role_prefix"])
	require.Equal(t, agentMetadataKey, resp.Data["metadata_key"])
	require.Equal(t, testMountAccessor, resp.Data["mount_accessor"])
	templ := parsePolicy(t, resp.Data["policy"].(string)).Path

	standalone := parsePolicy(t, tb.ok(t, logical.ReadOperation, "agents/bot/policy", nil).Data["policy"].(string)).Path
	const tpl = "{{identity.entity.aliases.auth_approle_0badc0de.metadata.mailgent_agent}}"
	resolved := map[string][]string{}
	for p, r := range templ {
		require.Contains(t, p, tpl, "every path names the agent through the template: %s", p)
		resolved[strings.Replace(p, tpl, "bot", 1)] = r.Capabilities
	}
	want := map[string][]string{}
	for p, r := range standalone {
		want[p] = r.Capabilities
	}
	require.Equal(t, want, resolved)
}

// Names derive from the mount accessor, so the agents that collided when
// names came from the mount path ("mailgent/" + "eu-billing" and
// "mailgent/eu/" + "billing") get distinct policies and roles.
func TestNamesAreDistinctAcrossMounts(t *testing.T) {
	const accA, accB = "vault-plugin-mailgent_11111111", "vault-plugin-mailgent_22222222"
	cases := []struct {
		name             string
		accX, agentX     string
		accY, agentY     string
		wantSameRole     bool
		wantSamePolicies bool
	}{
		{"dash in the agent name", accA, "eu-billing", accB, "billing", false, false},
		{"same agent on two mounts", accA, "billing", accB, "billing", false, false},
		{"two agents on one mount", accA, "billing", accA, "billing2", false, false},
		{"the same agent", accA, "billing", accA, "billing", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.wantSameRole, agentRoleName(tc.accX, tc.agentX) == agentRoleName(tc.accY, tc.agentY))
			require.Equal(t, tc.wantSamePolicies, agentPolicyName(tc.accX, tc.agentX) == agentPolicyName(tc.accY, tc.agentY))
		})
	}
	require.NotEqual(t, agentsPolicyName(accA), agentsPolicyName(accB))
	// The templated policy never shares a name with an agent's own policy.
	require.NotEqual(t, agentsPolicyName(accA), agentPolicyName(accA, "s"))
}

func TestAdminPolicyCannotEscalate(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)
	prefix := "mailgent-" + testMountAccessor + "-"
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "standard", true: "strict"}[strict], func(t *testing.T) {
			resp := tb.ok(t, logical.ReadOperation, "admin-policy", map[string]interface{}{"approle_mount": "approle", "strict": strict})
			paths := parsePolicy(t, resp.Data["policy"].(string)).Path
			for p, r := range paths {
				if strings.HasPrefix(p, "sys/") {
					require.Equal(t, []string{"read"}, r.Capabilities, "%s: sys paths are read only", p)
				}
				require.False(t, strings.HasPrefix(p, "sys/policies/") && p != "sys/policies/acl/"+prefix+"agents", "%s", p)
			}
			role, ok := paths["auth/approle/role/"+prefix+"*"]
			require.True(t, ok, "the role rule is named after the accessor")
			allowed := map[string]interface{}{} // HCL v1 decodes each key as a map of its own
			for _, m := range role.AllowedParameters {
				for k, v := range m {
					allowed[k] = v
				}
			}
			require.Equal(t, []interface{}{prefix + "agents"}, allowed["token_policies"], "roles carry only the agent policy")
			require.Equal(t, []interface{}{"service"}, allowed["token_type"])
			for _, p := range []string{"policies", "token_no_default_policy", "period", "token_period", "token_explicit_max_ttl", "token_num_uses", "bind_secret_id", "role_id", "local_secret_ids", "secret_id", "cidr_list", "bound_cidr_list"} {
				require.NotContains(t, allowed, p)
			}
			_, mints := allowed["metadata"]
			require.Equal(t, !strict, mints, "only the standard admin mints secret IDs that name an agent")
			deny, denies := paths["mailgent/agents/+/creds/+"]
			require.Equal(t, strict, denies)
			if strict {
				require.Equal(t, []string{"deny"}, deny.Capabilities)
			}
		})
	}
}

func TestPolicyPathsBadInput(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)
	cases := []struct {
		name, path string
		data       map[string]interface{}
		field      string
	}{
		{"no accessor", "agent-policy", nil, "approle_accessor"},
		{"accessor with a quote", "agent-policy", map[string]interface{}{"approle_accessor": `x" } path "*`}, "approle_accessor"},
		{"accessor with braces", "agent-policy", map[string]interface{}{"approle_accessor": "a}}{{b"}, "approle_accessor"},
		{"unknown field", "agent-policy", map[string]interface{}{"approle_accessor": "auth_approle_1a2b3c4d", "mount": "x"}, "mount"},
		{"mount accessor with a glob", "agent-policy", map[string]interface{}{"approle_accessor": "auth_approle_1a2b3c4d", "mount_accessor": "x_1a2b3c4d*"}, "mount_accessor"},
		{"mount accessor of another shape", "admin-policy", map[string]interface{}{"mount_accessor": "mailgent"}, "mount_accessor"},
		{"mount with dots", "admin-policy", map[string]interface{}{"approle_mount": "../sys"}, "approle_mount"},
		{"mount with a star", "admin-policy", map[string]interface{}{"approle_mount": "app*"}, "approle_mount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.request(t, logical.ReadOperation, tc.path, tc.data)
			require.True(t, resp != nil && resp.IsError(), "want a 400, got %v", resp)
			require.Contains(t, resp.Error().Error(), tc.field)
		})
	}
	// Vault (1.21) sends no accessor to a secrets engine: the caller names it.
	asVault := func(accessor string, data map[string]interface{}) *logical.Response {
		resp, err := tb.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.ReadOperation, Path: "agent-policy", Storage: tb.storage, MountPoint: "mailgent/",
			MountAccessor: accessor, Data: data,
		})
		require.NoError(t, err)
		return resp
	}
	resp := asVault("", map[string]interface{}{"approle_accessor": "auth_approle_1a2b3c4d"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "mount_accessor: required")
	resp = asVault("", map[string]interface{}{"approle_accessor": "auth_approle_1a2b3c4d", "mount_accessor": "vault-plugin-mailgent_99999999"})
	require.False(t, resp.IsError())
	require.Equal(t, "mailgent-vault-plugin-mailgent_99999999-agents", resp.Data["name"])
	// When Vault does send the mount's accessor, another one is refused.
	resp = asVault(testMountAccessor, map[string]interface{}{"approle_accessor": "auth_approle_1a2b3c4d", "mount_accessor": "vault-plugin-mailgent_99999999"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "not this mount's accessor")
}

// policyRules is a policy without its comments: what Vault enforces.
func policyRules(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// The documented policies in examples/policies are what the plugin renders
// for mount mailgent/ and AppRole at approle/, placeholders aside.
func TestExamplePoliciesMatchTheRendering(t *testing.T) {
	cases := []struct{ file, want string }{
		{"mailgent-agents.hcl", agentsPolicy("mailgent/", "MOUNT_ACCESSOR", "APPROLE_ACCESSOR")},
		{"mailgent-admin.hcl", adminPolicy("mailgent/", "MOUNT_ACCESSOR", "approle", false)},
		{"mailgent-admin-strict.hcl", adminPolicy("mailgent/", "MOUNT_ACCESSOR", "approle", true)},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "examples", "policies", tc.file))
			require.NoError(t, err)
			require.Equal(t, policyRules(tc.want), policyRules(string(b)))
		})
	}
}

// The README's onboarding section shows the policies as the files hold them.
func TestReadmePoliciesMatchTheFiles(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	section := string(readme)
	start := strings.Index(section, "### Onboarding an agent with AppRole")
	require.GreaterOrEqual(t, start, 0)
	section = section[start:]
	section = section[:strings.Index(section, "\n## ")]
	var blocks []string
	for _, part := range strings.Split(section, "```hcl\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	require.Len(t, blocks, 2)
	for i, file := range []string{"mailgent-agents.hcl", "mailgent-admin.hcl"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "policies", file))
		require.NoError(t, err)
		require.Equal(t, policyRules(string(b)), policyRules(blocks[i]), file)
	}
}
