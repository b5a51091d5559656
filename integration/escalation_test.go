package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/onboard"
)

// mountSetup is what a Vault operator does once per Mailgent mount, as
// root: mount it, enable AppRole, install the mount's templated agent policy.
type mountSetup struct {
	mount           string
	accessor        string // the Mailgent mount's
	approleAccessor string
	agentsPolicy    string // its name
}

func setupMount(t *testing.T, v *harness.Vault, mount string) mountSetup {
	t.Helper()
	v.MountMailgent(t, mount, map[string]interface{}{"domain": "agents.example.com"})
	auths, err := v.Client.Sys().ListAuth()
	require.NoError(t, err)
	if _, ok := auths["approle/"]; !ok {
		require.NoError(t, v.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
		auths, err = v.Client.Sys().ListAuth()
		require.NoError(t, err)
	}
	mounts, err := v.Client.Sys().ListMounts()
	require.NoError(t, err)
	m := mountSetup{mount: mount, approleAccessor: auths["approle/"].Accessor, accessor: mounts[mount+"/"].Accessor}
	s, err := v.Client.Logical().ReadWithData(mount+"/agent-policy", m.args())
	require.NoError(t, err)
	m.agentsPolicy = s.Data["name"].(string)
	require.Equal(t, "mailgent-"+m.accessor+"-agents", m.agentsPolicy)
	require.NoError(t, v.Client.Sys().PutPolicy(m.agentsPolicy, s.Data["policy"].(string)))
	return m
}

// args are the accessors the plugin's policy paths take.
func (m mountSetup) args() map[string][]string {
	return map[string][]string{"approle_accessor": {m.approleAccessor}, "mount_accessor": {m.accessor}}
}

// examplePolicy is a documented policy (examples/policies, written for the
// mount mailgent/) with its placeholders filled in.
func examplePolicy(t *testing.T, file string, m mountSetup) string {
	t.Helper()
	require.Equal(t, "mailgent", m.mount, "the examples are written for mailgent/")
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "policies", file))
	require.NoError(t, err)
	return strings.NewReplacer("MOUNT_ACCESSOR", m.accessor, "APPROLE_ACCESSOR", m.approleAccessor).Replace(string(b))
}

// renderedAdminPolicy is the admin policy the plugin renders for a mount.
func renderedAdminPolicy(t *testing.T, v *harness.Vault, m mountSetup, strict bool) string {
	t.Helper()
	s, err := v.Client.Logical().ReadWithData(m.mount+"/admin-policy", map[string][]string{"strict": {fmt.Sprint(strict)}, "mount_accessor": {m.accessor}})
	require.NoError(t, err)
	return s.Data["policy"].(string)
}

// tokenWith installs a policy as root and returns a client whose token
// holds only it (and Vault's default policy).
func tokenWith(t *testing.T, v *harness.Vault, display, policyName, hcl string) *api.Client {
	t.Helper()
	require.NoError(t, v.Client.Sys().PutPolicy(policyName, hcl))
	tok, err := v.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policyName}, DisplayName: display, NoParent: true})
	require.NoError(t, err)
	c, err := v.Client.Clone()
	require.NoError(t, err)
	c.SetToken(tok.Auth.ClientToken)
	return c
}

func loginAgent(t *testing.T, v *harness.Vault, mount string, r *onboard.Result) *client.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	c, err := client.LoginAppRole(context.Background(), cfg, client.AppRole{Mount: mount, Agent: r.Agent, AppRoleMount: r.AppRoleMount, RoleID: r.RoleID, WrappedSecretID: r.WrappingToken})
	require.NoError(t, err)
	return c
}

// A token holding only the documented admin policy onboards an agent, and
// every way it could reach further gets a 403.
func TestAdminPolicyCannotEscalate(t *testing.T) {
	ctx := context.Background()
	v := harness.StartVault(t)
	a := setupMount(t, v, "mailgent")
	b := setupMount(t, v, "mailgent-eu")
	rec := &recorder{t: t, addr: v.Addr}

	// The documented files are what the plugin renders.
	require.Equal(t, policyRules(renderedAdminPolicy(t, v, a, false)), policyRules(examplePolicy(t, "mailgent-admin.hcl", a)))
	require.Equal(t, policyRules(renderedAdminPolicy(t, v, a, true)), policyRules(examplePolicy(t, "mailgent-admin-strict.hcl", a)))
	installed, err := v.Client.Sys().GetPolicy(a.agentsPolicy)
	require.NoError(t, err)
	require.Equal(t, policyRules(installed), policyRules(examplePolicy(t, "mailgent-agents.hcl", a)))

	admin := tokenWith(t, v, "alice", "mailgent-admin", examplePolicy(t, "mailgent-admin.hcl", a))
	strict := tokenWith(t, v, "sam", "mailgent-admin-strict", examplePolicy(t, "mailgent-admin-strict.hcl", a))

	res, err := onboard.Run(ctx, admin, onboard.Options{Mount: "mailgent", Org: "acme", CreateOrg: true, Agent: "billing",
		SecretIDBoundCIDRs: []string{"127.0.0.1/32"}, TokenBoundCIDRs: []string{"127.0.0.1/32"}})
	require.NoError(t, err)
	require.Equal(t, a.agentsPolicy, res.Policy)
	require.Equal(t, "mailgent-"+a.accessor+"-billing", res.Role)
	role, err := v.Client.Logical().Read("auth/approle/role/" + res.Role)
	require.NoError(t, err)
	require.Equal(t, []interface{}{a.agentsPolicy}, role.Data["token_policies"])
	require.Equal(t, fmt.Sprint(int(onboard.DefaultSecretIDTTL.Seconds())), fmt.Sprint(role.Data["secret_id_ttl"]))
	require.Equal(t, fmt.Sprint(onboard.DefaultSecretIDNumUses), fmt.Sprint(role.Data["secret_id_num_uses"]))
	require.Equal(t, []interface{}{"127.0.0.1/32"}, role.Data["secret_id_bound_cidrs"])
	agent := loginAgent(t, v, "mailgent", res)
	agentTok := agent.Vault().Token()
	rec.must(agentTok, "POST", "mailgent/agents/billing/creds/bank", map[string]interface{}{"password": "bank-pw-1", "totp_secret": "JBSWY3DPEHPK3PXP"})
	rec.must(agentTok, "GET", "mailgent/agents/billing/creds/bank", nil)
	rec.must(agentTok, "GET", "mailgent/agents/billing/creds/bank/totp", nil)

	// The strict admin onboards too, without a secret ID, and the standard
	// admin mints one later.
	resS, err := onboard.Run(ctx, strict, onboard.Options{Mount: "mailgent", Org: "acme", Agent: "payroll"})
	require.ErrorContains(t, err, "may not mint its secret ID")
	resS, err = onboard.Run(ctx, strict, onboard.Options{Mount: "mailgent", Org: "acme", Agent: "payroll", NoSecretID: true})
	require.NoError(t, err)
	require.Empty(t, resS.WrappingToken)

	otherRole := "auth/approle/role/mailgent-" + a.accessor + "-evil"
	agentsA, agentsB := a.agentsPolicy, b.agentsPolicy
	pinned := []string{agentsA}
	forbidden := []struct {
		name, method, path string
		tok                *api.Client
		body               map[string]interface{}
	}{
		{"write an ACL policy", "PUT", "sys/policies/acl/mailgent-x", admin, map[string]interface{}{"policy": `path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`}},
		{"overwrite the agent policy", "PUT", "sys/policies/acl/" + agentsA, admin, map[string]interface{}{"policy": `path "*" { capabilities = ["read"] }`}},
		{"legacy policies", "POST", otherRole, admin, map[string]interface{}{"policies": "root"}},
		{"root", "POST", otherRole, admin, map[string]interface{}{"token_policies": []string{"root"}}},
		{"extra policies", "POST", otherRole, admin, map[string]interface{}{"token_policies": []string{"default", agentsA, "other"}}},
		{"comma-separated extra policy", "POST", otherRole, admin, map[string]interface{}{"token_policies": agentsA + ",root"}},
		{"another mount's agent policy", "POST", otherRole, admin, map[string]interface{}{"token_policies": []string{agentsB}}},
		{"no default policy", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "token_no_default_policy": true}},
		{"periodic token", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "token_period": "768h"}},
		{"legacy period", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "period": "768h"}},
		{"batch token", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "token_type": "batch"}},
		{"explicit max ttl", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "token_explicit_max_ttl": "87600h"}},
		{"no secret ID needed", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "bind_secret_id": false}},
		{"custom role ID", "POST", otherRole, admin, map[string]interface{}{"token_policies": pinned, "role_id": "guessable"}},
		{"role sub-path: policies", "POST", "auth/approle/role/" + res.Role + "/policies", admin, map[string]interface{}{"token_policies": "root"}},
		{"role sub-path: role-id", "POST", "auth/approle/role/" + res.Role + "/role-id", admin, map[string]interface{}{"role_id": "guessable"}},
		{"role sub-path: bind-secret-id", "POST", "auth/approle/role/" + res.Role + "/bind-secret-id", admin, map[string]interface{}{"bind_secret_id": false}},
		{"role sub-path: period", "POST", "auth/approle/role/" + res.Role + "/period", admin, map[string]interface{}{"token_period": "768h"}},
		{"another mount's role", "POST", "auth/approle/role/mailgent-" + b.accessor + "-billing", admin, map[string]interface{}{"token_policies": pinned}},
		{"an unrelated role", "POST", "auth/approle/role/payments", admin, map[string]interface{}{"token_policies": pinned}},
		{"read another mount's agent", "GET", "mailgent-eu/agents/billing", admin, nil},
		{"enable an auth method", "POST", "sys/auth/userpass2", admin, map[string]interface{}{"type": "userpass"}},
		{"give an entity policies", "POST", "identity/entity", admin, map[string]interface{}{"name": "x", "policies": []string{"root"}}},
		{"create a token", "POST", "auth/token/create", admin, map[string]interface{}{"policies": []string{"root"}}},
		{"strict: read a password", "GET", "mailgent/agents/billing/creds/bank", strict, nil},
		{"strict: read an old version", "GET", "mailgent/agents/billing/creds/bank?version=1", strict, nil},
		{"strict: overwrite a credential", "POST", "mailgent/agents/billing/creds/bank", strict, map[string]interface{}{"password": "mine"}},
		{"strict: mint a secret ID naming the agent", "POST", "auth/approle/role/" + res.Role + "/secret-id", strict, map[string]interface{}{"metadata": `{"mailgent_agent":"billing"}`}},
		{"strict: mint a custom secret ID", "POST", "auth/approle/role/" + res.Role + "/custom-secret-id", strict, map[string]interface{}{"secret_id": "chosen-by-admin-0001"}},
		{"strict: a role that needs no secret ID", "POST", "auth/approle/role/" + res.Role, strict, map[string]interface{}{"token_policies": pinned, "bind_secret_id": false}},
	}
	for _, f := range forbidden {
		t.Run(f.name, func(t *testing.T) {
			status, body := rec.call(f.tok.Token(), f.method, f.path, f.body)
			require.Equal(t, http.StatusForbidden, status, "%s %s → %v", f.method, f.path, body)
		})
	}
	// The 403s come from the parameters, not the path: pinned, it is allowed.
	rec.must(admin.Token(), "POST", otherRole, map[string]interface{}{"token_policies": pinned, "token_ttl": "1h"})
	rec.must(admin.Token(), "DELETE", otherRole, nil)
	// Nothing above changed the role.
	after, err := v.Client.Logical().Read("auth/approle/role/" + res.Role)
	require.NoError(t, err)
	require.Equal(t, role.Data, after.Data)

	// What the strict admin keeps: codes, listings, agents.
	rec.must(strict.Token(), "GET", "mailgent/agents/billing/creds/bank/totp", nil)
	rec.must(strict.Token(), "LIST", "mailgent/agents/billing/creds", nil)
	rec.must(strict.Token(), "GET", "mailgent/agents/billing", nil)

	// The standard admin's break-glass read is allowed, and recorded as
	// someone other than the agent acting on it; the agent's own read too.
	rec.must(admin.Token(), "GET", "mailgent/agents/billing/creds/bank", nil)
	events := rec.must(admin.Token(), "GET", "mailgent/agents/billing/audit?operation=cred.read", nil)["events"].([]interface{})
	require.Len(t, events, 2)
	byAdmin, byAgent := events[0].(map[string]interface{}), events[1].(map[string]interface{})
	require.Equal(t, false, byAdmin["requester_is_agent"])
	require.Equal(t, "token-alice", byAdmin["display_name"])
	require.Equal(t, true, byAgent["requester_is_agent"])
	require.Equal(t, byAdmin["delegation_chain"], byAgent["delegation_chain"], "the chain is the agent's either way")

	// Vault's ACL cannot keep the role prefix from matching .../secret-id,
	// so the strict admin can mint a secret ID without metadata (documented):
	// its login resolves no path of the agent policy. Last: that login
	// rewrites the role's alias metadata, so the agent logs in again after it.
	status, out := rec.call(strict.Token(), "POST", "auth/approle/role/"+res.Role+"/secret-id", map[string]interface{}{})
	require.Equal(t, http.StatusOK, status, "%v", out)
	tok := loginToken(t, rec, res.RoleID, out["data"].(map[string]interface{})["secret_id"].(string))
	for _, p := range []string{"mailgent/agents/billing", "mailgent/agents/billing/creds/bank", "mailgent/agents/billing/creds/bank/totp", "mailgent/agents/billing/audit"} {
		status, body := rec.call(tok, "GET", p, nil)
		require.Equal(t, http.StatusForbidden, status, "%s: %v", p, body)
	}
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

// loginToken logs in with AppRole over HTTP and returns the client token.
func loginToken(t *testing.T, rec *recorder, roleID, secretID string) string {
	t.Helper()
	status, out := rec.call("", "POST", "auth/approle/login", map[string]interface{}{"role_id": roleID, "secret_id": secretID})
	require.Equal(t, http.StatusOK, status, "%v", out)
	return out["auth"].(map[string]interface{})["client_token"].(string)
}

// Agents whose names collided when names came from the mount path —
// "eu-billing" on mailgent/ and "billing" on mailgent-eu/ were both
// "mailgent-mailgent-eu-billing" (as mailgent/eu/ would be, but Vault
// refuses a mount inside another) — and the same agent name on both mounts
// keep their own access, reach nothing of each other's, and onboarding on
// one mount rewrites nothing of the other's.
func TestCollidingNamesStayApart(t *testing.T) {
	ctx := context.Background()
	v := harness.StartVault(t)
	a := setupMount(t, v, "mailgent")
	b := setupMount(t, v, "mailgent-eu")
	rec := &recorder{t: t, addr: v.Addr}
	adminA := tokenWith(t, v, "alice", "admin-a", renderedAdminPolicy(t, v, a, false))
	adminB := tokenWith(t, v, "bob", "admin-b", renderedAdminPolicy(t, v, b, false))

	onboardAs := func(c *api.Client, m mountSetup, agent string) *onboard.Result {
		r, err := onboard.Run(ctx, c, onboard.Options{Mount: m.mount, Org: "acme", CreateOrg: true, Agent: agent})
		require.NoError(t, err)
		return r
	}
	euBillingA := onboardAs(adminA, a, "eu-billing")
	billingA := onboardAs(adminA, a, "billing")
	before := vaultObjects(t, v)
	billingB := onboardAs(adminB, b, "billing")
	after := vaultObjects(t, v)
	for name, content := range before {
		require.Equal(t, content, after[name], "%s was rewritten by the other mount's onboarding", name)
	}
	require.Len(t, after, len(before)+1, "one new role, for the other mount's agent")
	require.NotEqual(t, euBillingA.Role, billingB.Role)
	require.NotEqual(t, billingA.Role, billingB.Role)
	require.NotEqual(t, billingA.Policy, billingB.Policy)

	type agentAt struct {
		mount string
		res   *onboard.Result
		tok   string
	}
	agents := []*agentAt{{"mailgent", euBillingA, ""}, {"mailgent", billingA, ""}, {"mailgent-eu", billingB, ""}}
	for _, ag := range agents {
		ag.tok = loginAgent(t, v, ag.mount, ag.res).Vault().Token()
		base := ag.mount + "/agents/" + ag.res.Agent
		rec.must(ag.tok, "POST", base+"/creds/site", map[string]interface{}{"password": "pw-of-" + ag.mount + "-" + ag.res.Agent, "totp_secret": "JBSWY3DPEHPK3PXP"})
		rec.must(ag.tok, "GET", base+"/creds/site", nil)
	}
	for _, me := range agents {
		for _, other := range agents {
			if me == other {
				continue
			}
			base := other.mount + "/agents/" + other.res.Agent
			for _, p := range []string{base, base + "/creds/site", base + "/creds/site/totp", base + "/audit"} {
				status, _ := rec.call(me.tok, "GET", p, nil)
				require.Equal(t, http.StatusForbidden, status, "%s on %s reads %s", me.res.Agent, me.mount, p)
			}
			status, _ := rec.call(me.tok, "LIST", base+"/creds", nil)
			require.Equal(t, http.StatusForbidden, status)
		}
		rec.must(me.tok, "GET", me.mount+"/agents/"+me.res.Agent+"/creds/site/totp", nil)
	}

	// The template fails closed. A token with the agent policy and no entity:
	// nothing. A login whose secret ID names no agent: nothing — and, as it
	// rewrites the role's alias, the agent's own token reaches nothing until
	// it logs in again with a secret ID that names it.
	orphan, err := v.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{a.agentsPolicy}, NoParent: true})
	require.NoError(t, err)
	rolePath := "auth/approle/role/" + billingA.Role
	bare := rec.must(v.Token, "POST", rolePath+"/secret-id", map[string]interface{}{})["secret_id"].(string)
	bareTok := loginToken(t, rec, billingA.RoleID, bare)
	for _, tok := range []string{orphan.Auth.ClientToken, bareTok, agents[1].tok} {
		for _, p := range []string{"mailgent/agents/billing", "mailgent/agents/billing/creds/site", "mailgent/agents/billing/creds/site/totp"} {
			status, _ := rec.call(tok, "GET", p, nil)
			require.Equal(t, http.StatusForbidden, status, p)
		}
	}
	named := rec.must(v.Token, "POST", rolePath+"/secret-id", map[string]interface{}{"metadata": billingA.SecretIDMetadata})["secret_id"].(string)
	rec.must(loginToken(t, rec, billingA.RoleID, named), "GET", "mailgent/agents/billing/creds/site/totp", nil)

	// No secret on any command line the harness started: the root and admin
	// tokens, the agents' tokens, their passwords.
	secrets := []string{v.Token, adminA.Token(), adminB.Token(), orphan.Auth.ClientToken, bare, named}
	for _, ag := range agents {
		secrets = append(secrets, ag.tok, ag.res.RoleID, "pw-of-"+ag.mount+"-"+ag.res.Agent)
	}
	checked := harness.RequireNoSecretOnCommandLine(t, secrets, v.Process)
	var all []string
	for _, c := range checked {
		all = append(all, c)
	}
	require.Contains(t, strings.Join(all, "\n"), "server -dev", "Vault's own command line was checked")
	require.Contains(t, strings.Join(all, "\n"), harness.PluginName, "the plugin process Vault started was checked")
}

// vaultObjects reads, as root, every ACL policy and AppRole role (with its
// role ID) whose name starts with "mailgent-".
func vaultObjects(t *testing.T, v *harness.Vault) map[string]string {
	t.Helper()
	out := map[string]string{}
	policies, err := v.Client.Sys().ListPolicies()
	require.NoError(t, err)
	for _, p := range policies {
		if strings.HasPrefix(p, "mailgent-") {
			text, err := v.Client.Sys().GetPolicy(p)
			require.NoError(t, err)
			out["policy "+p] = text
		}
	}
	roles, err := v.Client.Logical().List("auth/approle/role")
	require.NoError(t, err)
	for _, r := range roles.Data["keys"].([]interface{}) {
		role, err := v.Client.Logical().Read("auth/approle/role/" + r.(string))
		require.NoError(t, err)
		rid, err := v.Client.Logical().Read("auth/approle/role/" + r.(string) + "/role-id")
		require.NoError(t, err)
		out["role "+r.(string)] = fmt.Sprint(role.Data, rid.Data["role_id"])
	}
	return out
}

// Onboarding checks the agent policy is installed as the plugin renders it:
// absent, an admin gets the command that installs it and nothing is
// created; different, nobody's onboarding overwrites it.
func TestOnboardingChecksTheAgentPolicy(t *testing.T) {
	ctx := context.Background()
	v := harness.StartVault(t)
	v.MountMailgent(t, "mailgent", map[string]interface{}{"domain": "agents.example.com"})
	require.NoError(t, v.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
	auths, err := v.Client.Sys().ListAuth()
	require.NoError(t, err)
	mounts, err := v.Client.Sys().ListMounts()
	require.NoError(t, err)
	m := mountSetup{mount: "mailgent", accessor: mounts["mailgent/"].Accessor, approleAccessor: auths["approle/"].Accessor, agentsPolicy: "mailgent-" + mounts["mailgent/"].Accessor + "-agents"}
	admin := tokenWith(t, v, "alice", "mailgent-admin", examplePolicy(t, "mailgent-admin.hcl", m))
	opts := onboard.Options{Mount: "mailgent", Org: "acme", CreateOrg: true, Agent: "billing"}

	_, err = onboard.Run(ctx, admin, opts)
	require.ErrorContains(t, err, "the agent policy "+m.agentsPolicy+" is not installed")
	require.ErrorContains(t, err, "vault read -field=policy mailgent/agent-policy approle_accessor="+m.approleAccessor+" mount_accessor="+m.accessor+" | vault policy write "+m.agentsPolicy+" -")
	orgs, err := v.Client.Logical().List("mailgent/orgs")
	require.NoError(t, err)
	require.Nil(t, orgs, "nothing was created")

	tampered := `path "mailgent/agents/*" { capabilities = ["read"] }`
	require.NoError(t, v.Client.Sys().PutPolicy(m.agentsPolicy, tampered))
	for _, c := range []*api.Client{admin, v.Client} {
		_, err = onboard.Run(ctx, c, opts)
		require.ErrorContains(t, err, "differs from what mailgent/agent-policy renders")
		got, err := v.Client.Sys().GetPolicy(m.agentsPolicy)
		require.NoError(t, err)
		require.Equal(t, tampered, got, "not overwritten")
	}

	// The documented file, filled in, is what onboarding accepts.
	require.NoError(t, v.Client.Sys().PutPolicy(m.agentsPolicy, examplePolicy(t, "mailgent-agents.hcl", m)))
	res, err := onboard.Run(ctx, admin, opts)
	require.NoError(t, err)
	c := loginAgent(t, v, "mailgent", res)
	_, err = c.Vault().Logical().Read("mailgent/agents/billing")
	require.NoError(t, err)
}
