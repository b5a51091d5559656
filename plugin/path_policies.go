package plugin

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The Vault objects around a mount are named after its accessor, which Vault
// makes unique per mount: "mailgent-<accessor>-…". A mount path would not
// do — "mailgent/" + agent "eu-billing" and "mailgent/eu/" + agent "billing"
// read the same once "/" becomes "-". Vault sets req.MountAccessor only
// after a secrets engine has answered (vault/router.go), so the caller
// passes it (mount_accessor, from sys/mounts/<mount>); the plugin checks it
// against req.MountAccessor whenever Vault does send one.
const (
	// agentMetadataKey is the secret ID metadata key that names the agent a
	// login acts as; AppRole copies it into the entity alias, where the
	// templated agent policy reads it.
	agentMetadataKey = "mailgent_agent"
	// defaultAppRoleMount is where onboarding expects AppRole.
	defaultAppRoleMount = "approle"
)

// namePrefix is what every policy and role name of the mount starts with.
func namePrefix(accessor string) string { return "mailgent-" + accessor + "-" }

// agentsPolicyName is the mount's one templated agent policy.
func agentsPolicyName(accessor string) string { return namePrefix(accessor) + "agents" }

// agentRoleName is the AppRole role of one agent. One role per agent, never
// one shared: AppRole keys the entity alias by role ID and rewrites its
// metadata at each login, so agents sharing a role would share an identity.
func agentRoleName(accessor, agent string) string { return namePrefix(accessor) + agent }

// agentPolicyName is the name of an agent's standalone policy (agents/:agent/policy).
func agentPolicyName(accessor, agent string) string {
	return namePrefix(accessor) + "agent-" + agent
}

// adminPolicyName is the suggested name of the rendered admin policy.
func adminPolicyName(accessor string, strict bool) string {
	if strict {
		return namePrefix(accessor) + "admin-strict"
	}
	return namePrefix(accessor) + "admin"
}

// Accessors are "<type>_<8 hex>"; AppRole mount paths are Vault path
// segments. Both end up inside HCL and ACL paths, so they are checked.
var (
	accessorRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}_[0-9a-f]{8}$`)
	authMountRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})*$`)
)

// mountAccessorField is the mount_accessor field of every path that names
// policies or roles.
func mountAccessorField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "Accessor of this Mailgent mount (vault read -field=accessor sys/mounts/<mount>): policy and role names derive from it.",
	}
}

// mountAccessor is the caller's mount_accessor (acc), checked for shape
// and, when Vault sent one with the request, against it.
func mountAccessor(req *logical.Request, acc string) (string, error) {
	switch {
	case acc == "" && req.MountAccessor != "":
		return req.MountAccessor, nil
	case acc == "":
		return "", fmt.Errorf("mount_accessor: required (vault read -field=accessor sys/mounts/%s)", strings.TrimSuffix(req.MountPoint, "/"))
	case !accessorRe.MatchString(acc):
		return "", fmt.Errorf("mount_accessor: %q is not a mount accessor (<type>_<8 hex digits>)", acc)
	case req.MountAccessor != "" && acc != req.MountAccessor:
		return "", fmt.Errorf("mount_accessor: %q is not this mount's accessor", acc)
	}
	return acc, nil
}

func (b *backend) pathPolicies() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "agents/" + namePattern("agent") + "/policy$",
			DisplayAttrs: pathDisplay("agent-policy"),
			Fields: map[string]*framework.FieldSchema{
				"agent":          agentField(),
				"mount_accessor": mountAccessorField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, "", readMountAccessor, b.pathAgentPolicy)},
			},
			HelpSynopsis: "The agent's Vault ACL policy, as HCL: its own paths only.",
		},
		{
			Pattern:      "agent-policy$",
			DisplayAttrs: pathDisplay("templated-agent-policy"),
			Fields: map[string]*framework.FieldSchema{
				"approle_accessor": requiredString("Accessor of the AppRole auth mount the agents log in with (vault read -field=accessor sys/auth/approle)."),
				"mount_accessor":   mountAccessorField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathAgentsPolicyRead},
			},
			HelpSynopsis:    "The mount's one templated agent policy, as HCL, for the operator to install.",
			HelpDescription: pathAgentsPolicyHelp,
		},
		{
			Pattern:      "admin-policy$",
			DisplayAttrs: pathDisplay("admin-policy"),
			Fields: map[string]*framework.FieldSchema{
				"approle_mount": {
					Type:        framework.TypeString,
					Default:     defaultAppRoleMount,
					Description: "Path of the AppRole auth mount the admin creates agents' roles on.",
				},
				"strict": {
					Type:        framework.TypeBool,
					Description: "The stricter policy: no password reads, no secret IDs.",
				},
				"mount_accessor": mountAccessorField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathAdminPolicyRead},
			},
			HelpSynopsis:    "An administrator policy for this mount that cannot escalate, as HCL.",
			HelpDescription: pathAdminPolicyHelp,
		},
	}
}

func (b *backend) pathAgentsPolicyRead(_ context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	approle := d.Get("approle_accessor").(string)
	if !accessorRe.MatchString(approle) {
		return logical.ErrorResponse("approle_accessor: %q is not a mount accessor (e.g. auth_approle_1a2b3c4d: vault read -field=accessor sys/auth/approle)", approle), nil
	}
	acc, err := mountAccessor(req, d.Get("mount_accessor").(string))
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	return &logical.Response{Data: map[string]interface{}{
		"name":             agentsPolicyName(acc),
		"policy":           agentsPolicy(req.MountPoint, acc, approle),
		"mount_accessor":   acc,
		"approle_accessor": approle,
		"metadata_key":     agentMetadataKey,
		"role_prefix":      namePrefix(acc),
	}}, nil
}

func (b *backend) pathAdminPolicyRead(_ context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	approle := strings.Trim(d.Get("approle_mount").(string), "/")
	if !authMountRe.MatchString(approle) || strings.Contains(approle, "..") {
		return logical.ErrorResponse("approle_mount: %q is not an auth mount path (e.g. approle)", approle), nil
	}
	acc, err := mountAccessor(req, d.Get("mount_accessor").(string))
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	strict := d.Get("strict").(bool)
	return &logical.Response{Data: map[string]interface{}{
		"name":   adminPolicyName(acc, strict),
		"policy": adminPolicy(req.MountPoint, acc, approle, strict),
		"strict": strict,
	}}, nil
}

// agentsPolicy renders the templated policy: one per mount, the same
// capabilities as an agent's standalone policy, for whichever agent the
// token's AppRole secret ID named. A token without that metadata, or logged
// in elsewhere, resolves no path of it: Vault drops a path whose template
// does not resolve.
func agentsPolicy(mount, accessor, approleAccessor string) string {
	agent := "{{identity.entity.aliases." + approleAccessor + ".metadata." + agentMetadataKey + "}}"
	header := fmt.Sprintf("# Mailgent agents on mount %q (accessor %s): a token reaches only the paths\n"+
		"# of the agent its AppRole secret ID names (metadata %s, AppRole mount %s).\n",
		mount, accessor, agentMetadataKey, approleAccessor)
	return header + agentPaths(mount, agent)
}

// adminPolicy renders an administrator policy that cannot escalate: it
// manages orgs, agents and the agents' AppRole roles, and every role it can
// write carries the agent policy and nothing else. It writes no ACL policy.
func adminPolicy(mount, accessor, approle string, strict bool) string {
	m := strings.TrimSuffix(mount, "/")
	var s strings.Builder
	kind := "standard"
	if strict {
		kind = "strict"
	}
	fmt.Fprintf(&s, "# Mailgent administrator (%s) of mount %q (accessor %s), AppRole at auth/%s/.\n", kind, mount, accessor, approle)
	s.WriteString("# Manages orgs, agents and their AppRole roles; writes no ACL policy; every\n")
	s.WriteString("# role it writes carries only the agent policy " + agentsPolicyName(accessor) + ".\n")
	rule := func(path, caps string) { fmt.Fprintf(&s, "path %q { capabilities = [%s] }\n", path, caps) }
	rule(m+"/config", `"read"`)
	rule(m+"/orgs", `"list"`)
	rule(m+"/orgs/*", `"create", "read", "update", "delete", "list"`)
	rule(m+"/agents", `"list"`)
	rule(m+"/agents/*", `"create", "read", "update", "delete", "list"`)
	rule(m+"/agent-policy", `"read"`)
	s.WriteString("# To find the AppRole and Mailgent mounts' accessors, and to check the agent policy is installed.\n")
	rule("sys/auth", `"read"`)
	rule("sys/mounts/"+m, `"read"`)
	rule("sys/policies/acl/"+agentsPolicyName(accessor), `"read"`)
	s.WriteString(roleRule(approle, accessor, strict))
	if strict {
		s.WriteString("# Strict: no password (or any credential field) reads or writes, no backup codes; TOTP codes,\n")
		s.WriteString("# credential listing, inbox, audit and agent management stay allowed.\n")
		rule(m+"/agents/+/creds/+", `"deny"`)
		rule(m+"/agents/+/creds/+/backup-code", `"deny"`)
		rule(m+"/agents/+/creds/", `"list"`)
	}
	return s.String()
}

// roleRule is the one rule on the agents' AppRole roles. Its parameters are
// exactly what onboarding sends: token_policies pinned to the agent policy,
// token_type pinned to service, TTLs, secret ID limits and CIDR bindings.
// Everything else — the legacy "policies", token_no_default_policy, period
// and token_period, token_explicit_max_ttl, token_num_uses, bind_secret_id,
// a custom role_id, local_secret_ids — is refused, on the role and on its
// sub-paths (role-id, policies, period, …), which the same prefix matches.
// The standard admin may also pass "metadata": that is how it mints an
// agent's secret ID; the strict one may not, so no secret ID it could mint
// names an agent.
func roleRule(approle, accessor string, strict bool) string {
	params := [][2]string{
		{"token_policies", fmt.Sprintf("[%q]", agentsPolicyName(accessor))},
		{"token_type", `["service"]`},
		{"token_ttl", "[]"},
		{"token_max_ttl", "[]"},
		{"secret_id_ttl", "[]"},
		{"secret_id_num_uses", "[]"},
		{"secret_id_bound_cidrs", "[]"},
		{"token_bound_cidrs", "[]"},
	}
	if !strict {
		params = append(params, [2]string{"metadata", "[]"})
	}
	var s strings.Builder
	fmt.Fprintf(&s, "path %q {\n  capabilities = [\"create\", \"read\", \"update\", \"delete\"]\n  allowed_parameters = {\n",
		"auth/"+approle+"/role/"+namePrefix(accessor)+"*")
	for _, p := range params {
		fmt.Fprintf(&s, "    %-23s = %s\n", fmt.Sprintf("%q", p[0]), p[1])
	}
	s.WriteString("  }\n}\n")
	return s.String()
}

const pathAgentsPolicyHelp = `
One ACL policy serves every agent of the mount. Each agent logs in with its
own AppRole role, whose secret ID carries the metadata mailgent_agent=<agent>;
AppRole copies it into the token's entity alias and the policy's templated
paths read it, so the token reaches mailgent/agents/<that agent>/… only. An
unresolvable template drops the path: a token without the metadata reaches
nothing. The operator installs it once, e.g.

  args="approle_accessor=$(vault read -field=accessor sys/auth/approle) mount_accessor=$(vault read -field=accessor sys/mounts/mailgent)"
  vault read -field=policy mailgent/agent-policy $args |
    vault policy write $(vault read -field=name mailgent/agent-policy $args) -
`

const pathAdminPolicyHelp = `
An administrator policy for this mount: orgs, agents, and AppRole roles named
mailgent-<mount accessor>-<agent> whose token_policies can only be the
mount's agent policy. It writes no ACL policy. With strict=true it can
neither read nor write credentials (TOTP codes stay allowed) nor mint secret
IDs that name an agent.
`

// readMountAccessor reads mount_accessor as given; it is checked after
// the agent.
func readMountAccessor(d *framework.FieldData) (string, *logical.Response) {
	return d.Get("mount_accessor").(string), nil
}

// pathAgentPolicy renders the agent's standalone policy.
func (b *backend) pathAgentPolicy(_ context.Context, req *logical.Request, st *agentState, given string) (*logical.Response, error) {
	acc, err := mountAccessor(req, given)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent":  st.entry.Name,
		"name":   agentPolicyName(acc, st.entry.Name),
		"policy": agentPolicy(req.MountPoint, acc, st.entry.Name),
		"role":   agentRoleName(acc, st.entry.Name),
	}}, nil
}

// agentPolicy renders a standalone policy that confines a token to one
// agent's paths, for operators who prefer a policy per agent to the
// templated one (agent-policy).
func agentPolicy(mount, accessor, agent string) string {
	return fmt.Sprintf("# Mailgent agent %q on mount %q (accessor %s): its own paths only.\n", agent, mount, accessor) +
		agentPaths(mount, agent)
}

// agentPaths are an agent's own paths: its identity (read), its
// credentials, codes, login reports, inbox, outbound mail and audit trail.
// Nothing about other agents, orgs, config or policies. agent is a name or
// an ACL template that resolves to one.
func agentPaths(mount, agent string) string {
	p := strings.TrimSuffix(mount, "/") + "/agents/" + agent
	rules := []struct{ path, caps string }{
		{p, `"read"`},
		{p + "/creds", `"list"`},
		{p + "/creds/*", `"create", "read", "update", "delete", "list"`},
		{p + "/creds/+/totp", `"read"`},
		{p + "/creds/+/login", `"create", "update"`},
		{p + "/creds/+/backup-code", `"create", "update"`},
		{p + "/messages", `"read", "list"`},
		{p + "/messages/*", `"read", "list", "delete"`},
		{p + "/send", `"create", "update"`},
		{p + "/audit", `"read", "list"`},
		{p + "/sent", `"read", "list"`},
		{p + "/sent/*", `"read"`},
		{p + "/threads", `"read", "list"`},
		{p + "/threads/*", `"read"`},
	}
	var s strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&s, "path %q { capabilities = [%s] }\n", r.path, r.caps)
	}
	return s.String()
}
