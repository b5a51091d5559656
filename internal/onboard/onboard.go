// Package onboard gives an agent its identity end to end with an admin's
// Vault token — one holding the admin policy the plugin renders
// (admin-policy), no ACL policy writes: it checks the mount's templated
// agent policy is installed, creates the org and agent, the agent's AppRole
// role pinned to that policy, reads the role ID and mints a response-wrapped
// secret ID whose metadata names the agent (client.LoginAppRole unwraps it).
package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// Defaults for the agent's AppRole role: a secret ID lasts a month and
// logs in at most 100 times — a daily re-login and restarts — after which
// the agent is onboarded again for a fresh one.
const (
	DefaultSecretIDTTL     = 30 * 24 * time.Hour
	DefaultSecretIDNumUses = 100
	DefaultWrapTTL         = 10 * time.Minute
)

// Options say what to onboard and where.
type Options struct {
	// Mount is the Mailgent mount path, e.g. "mailgent".
	Mount string
	// Org is the agent's org; CreateOrg creates it if missing.
	Org       string
	CreateOrg bool
	// Agent is the agent's name; Description is optional.
	Agent       string
	Description string
	// AppRoleMount is the AppRole auth mount path, enabled if missing (that
	// needs sudo on sys/auth/*, which an admin does not have).
	AppRoleMount string
	// TokenTTL and TokenMaxTTL bound the agent's Vault tokens.
	TokenTTL, TokenMaxTTL time.Duration
	// SecretIDTTL and SecretIDNumUses bound each secret ID of the role;
	// zero means the defaults above, a negative number no limit.
	SecretIDTTL     time.Duration
	SecretIDNumUses int
	// SecretIDBoundCIDRs and TokenBoundCIDRs, when set, bind logins and
	// tokens to those client networks.
	SecretIDBoundCIDRs, TokenBoundCIDRs []string
	// WrapTTL is how long the wrapped secret ID can be unwrapped.
	WrapTTL time.Duration
	// NoSecretID stops after the role: for admins whose policy (the strict
	// one) may not mint secret IDs; whoever issues them mints one later.
	NoSecretID bool
}

// Result is what the agent (and its operator) needs next.
type Result struct {
	Agent         string   `json:"agent"`
	Address       string   `json:"address"`
	Org           string   `json:"org"`
	Chain         []string `json:"delegation_chain"`
	Policy        string   `json:"policy"`
	Role          string   `json:"approle_role"`
	AppRoleMount  string   `json:"approle_mount"`
	RoleID        string   `json:"role_id"`
	WrappingToken string   `json:"wrapped_secret_id,omitempty"`
	WrapTTL       string   `json:"wrap_ttl,omitempty"`
	// SecretIDMetadata is what a secret ID of the role must carry to act as
	// the agent, for whoever mints one when NoSecretID was set.
	SecretIDMetadata string `json:"secret_id_metadata"`
}

// agentPolicy is the mount's templated policy, as the plugin renders it.
type agentPolicy struct {
	name, hcl, rolePrefix, metadataKey string
}

// Run onboards one agent:
//  1. find the AppRole mount's accessor (enabling AppRole if allowed);
//  2. check the mount's templated agent policy is installed as the plugin
//     renders it (installing it only if absent and the token may);
//  3. create the org if asked, and the agent;
//  4. write the agent's role, refusing one bound to another policy;
//  5. read the role ID and mint a wrapped secret ID naming the agent.
//
// It changes nothing before step 3 succeeds its checks, and is safe to run
// again for the same agent: the role is rewritten and a new secret ID issued.
func Run(ctx context.Context, c *api.Client, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	mount := strings.Trim(o.Mount, "/")
	accessor, err := appRoleAccessor(ctx, c, o.AppRoleMount)
	if err != nil {
		return nil, err
	}
	mountAcc, err := mountAccessor(ctx, c, mount)
	if err != nil {
		return nil, err
	}
	pol, err := readAgentPolicy(ctx, c, mount, mountAcc, accessor)
	if err != nil {
		return nil, err
	}
	if err := ensurePolicy(ctx, c, mount, mountAcc, accessor, pol); err != nil {
		return nil, err
	}
	agent, err := createAgent(ctx, c, mount, o)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Agent: o.Agent, Org: o.Org, Policy: pol.name, Role: pol.rolePrefix + o.Agent,
		AppRoleMount: o.AppRoleMount,
	}
	res.Address, _ = agent.Data["address"].(string)
	if chain, ok := agent.Data["delegation_chain"].([]interface{}); ok {
		for _, l := range chain {
			res.Chain = append(res.Chain, fmt.Sprint(l))
		}
	}
	md, _ := json.Marshal(map[string]string{pol.metadataKey: o.Agent})
	res.SecretIDMetadata = string(md)
	rolePath := "auth/" + o.AppRoleMount + "/role/" + res.Role
	if err := writeRole(ctx, c, rolePath, pol.name, o); err != nil {
		return nil, err
	}
	rid, err := c.Logical().ReadWithContext(ctx, rolePath+"/role-id")
	if err != nil || rid == nil {
		return nil, fmt.Errorf("read role id of %s: %v", rolePath, err)
	}
	res.RoleID = fmt.Sprint(rid.Data["role_id"])
	if o.NoSecretID {
		return res, nil
	}
	if res.WrappingToken, err = mintSecretID(ctx, c, rolePath, res.SecretIDMetadata, o.WrapTTL); err != nil {
		return nil, err
	}
	res.WrapTTL = o.WrapTTL.String()
	return res, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Mount == "" || o.Agent == "" || o.Org == "" {
		return o, errors.New("mount, org and agent are required")
	}
	o.AppRoleMount = strings.Trim(o.AppRoleMount, "/")
	if o.AppRoleMount == "" {
		o.AppRoleMount = "approle"
	}
	if o.SecretIDTTL == 0 {
		o.SecretIDTTL = DefaultSecretIDTTL
	}
	if o.SecretIDNumUses == 0 {
		o.SecretIDNumUses = DefaultSecretIDNumUses
	}
	if o.WrapTTL <= 0 {
		o.WrapTTL = DefaultWrapTTL
	}
	return o, nil
}

// appRoleAccessor returns the accessor of the AppRole mount, enabling it if
// it is missing and the token may (sudo on sys/auth/*).
func appRoleAccessor(ctx context.Context, c *api.Client, approle string) (string, error) {
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("list auth methods: %w", err)
	}
	if a, ok := auths[approle+"/"]; ok {
		if a.Type != "approle" {
			return "", fmt.Errorf("approle mount: auth/%s/ is a %q mount, not AppRole", approle, a.Type)
		}
		return a.Accessor, nil
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, approle, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		return "", fmt.Errorf("AppRole is not enabled at auth/%s/ and this token cannot enable it (an operator runs: vault auth enable -path=%s approle): %w", approle, approle, err)
	}
	return appRoleAccessor(ctx, c, approle)
}

// mountAccessor is the Mailgent mount's accessor, which every policy and
// role name derives from: unique per mount, unlike its path.
func mountAccessor(ctx context.Context, c *api.Client, mount string) (string, error) {
	m, err := c.Sys().GetMountWithContext(ctx, mount)
	if err != nil {
		return "", fmt.Errorf("read sys/mounts/%s: %w", mount, err)
	}
	if m == nil || m.Accessor == "" {
		return "", fmt.Errorf("mount: nothing is mounted at %s/", mount)
	}
	return m.Accessor, nil
}

func readAgentPolicy(ctx context.Context, c *api.Client, mount, mountAcc, approleAccessor string) (*agentPolicy, error) {
	s, err := c.Logical().ReadWithDataWithContext(ctx, mount+"/agent-policy", map[string][]string{
		"approle_accessor": {approleAccessor}, "mount_accessor": {mountAcc},
	})
	if err != nil || s == nil {
		return nil, fmt.Errorf("read %s/agent-policy (is the Mailgent plugin mounted at %s/?): %v", mount, mount, err)
	}
	p := &agentPolicy{}
	for k, dst := range map[string]*string{"name": &p.name, "policy": &p.hcl, "role_prefix": &p.rolePrefix, "metadata_key": &p.metadataKey} {
		v, _ := s.Data[k].(string)
		if v == "" {
			return nil, fmt.Errorf("read %s/agent-policy: no %s in the answer (a plugin older than this CLI?)", mount, k)
		}
		*dst = v
	}
	return p, nil
}

// ensurePolicy checks the templated agent policy is installed as rendered.
// It never overwrites one: an installed policy that differs is an error. An
// absent one is installed only if the token may write policies (root, an
// operator); an admin gets the command that installs it.
func ensurePolicy(ctx context.Context, c *api.Client, mount, mountAcc, approleAccessor string, p *agentPolicy) error {
	installed, err := c.Sys().GetPolicyWithContext(ctx, p.name)
	if err != nil {
		return fmt.Errorf("read policy %s: %w", p.name, err)
	}
	if installed != "" {
		if !sameRules(installed, p.hcl) {
			return fmt.Errorf("policy %s is installed but differs from what %s/agent-policy renders for AppRole mount accessor %s; not overwritten — compare it with: vault read -field=policy %s/agent-policy approle_accessor=%s mount_accessor=%s", p.name, mount, approleAccessor, mount, approleAccessor, mountAcc)
		}
		return nil
	}
	err = c.Sys().PutPolicyWithContext(ctx, p.name, p.hcl)
	if isStatus(err, http.StatusForbidden) {
		return fmt.Errorf("the agent policy %s is not installed, and this token may not install it; a Vault operator installs it once with:\n  vault read -field=policy %s/agent-policy approle_accessor=%s mount_accessor=%s | vault policy write %s -",
			p.name, mount, approleAccessor, mountAcc, p.name)
	}
	if err != nil {
		return fmt.Errorf("install policy %s: %w", p.name, err)
	}
	return nil
}

// sameRules compares two policies as Vault enforces them: comments and
// blank lines aside (an operator may install a commented copy, e.g.
// examples/policies/mailgent-agents.hcl filled in).
func sameRules(a, b string) bool {
	rules := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	return slices.Equal(rules(a), rules(b))
}

func createAgent(ctx context.Context, c *api.Client, mount string, o Options) (*api.Secret, error) {
	l := c.Logical()
	if o.CreateOrg {
		org, err := l.ReadWithContext(ctx, mount+"/orgs/"+o.Org)
		if err != nil {
			return nil, fmt.Errorf("read org: %w", err)
		}
		if org == nil {
			if _, err := l.WriteWithContext(ctx, mount+"/orgs/"+o.Org, map[string]interface{}{}); err != nil {
				return nil, fmt.Errorf("create org: %w", err)
			}
		}
	}
	body := map[string]interface{}{"org": o.Org}
	if o.Description != "" {
		body["description"] = o.Description
	}
	if _, err := l.WriteWithContext(ctx, mount+"/agents/"+o.Agent, body); err != nil {
		return nil, fmt.Errorf("create agent: %w", err)
	}
	agent, err := l.ReadWithContext(ctx, mount+"/agents/"+o.Agent)
	if err != nil || agent == nil {
		return nil, fmt.Errorf("read agent back: %v", err)
	}
	return agent, nil
}

// writeRole writes the agent's role with exactly the parameters the admin
// policy allows. A role of that name bound to anything but the agent policy
// is not ours: refused, not rewritten.
func writeRole(ctx context.Context, c *api.Client, rolePath, policy string, o Options) error {
	l := c.Logical()
	existing, err := l.ReadWithContext(ctx, rolePath)
	if err != nil {
		return fmt.Errorf("read role %s: %w", rolePath, err)
	}
	if existing != nil {
		got, _ := existing.Data["token_policies"].([]interface{})
		if len(got) != 1 || got[0] != policy {
			return fmt.Errorf("role %s exists with token_policies %v, not [%s]; not overwritten", rolePath, got, policy)
		}
	}
	body := map[string]interface{}{
		"token_policies":     []string{policy},
		"token_type":         "service",
		"secret_id_ttl":      limit(int(o.SecretIDTTL.Seconds())),
		"secret_id_num_uses": limit(o.SecretIDNumUses),
	}
	if o.TokenTTL > 0 {
		body["token_ttl"] = int(o.TokenTTL.Seconds())
	}
	if o.TokenMaxTTL > 0 {
		body["token_max_ttl"] = int(o.TokenMaxTTL.Seconds())
	}
	if len(o.SecretIDBoundCIDRs) > 0 {
		body["secret_id_bound_cidrs"] = o.SecretIDBoundCIDRs
	}
	if len(o.TokenBoundCIDRs) > 0 {
		body["token_bound_cidrs"] = o.TokenBoundCIDRs
	}
	if _, err := l.WriteWithContext(ctx, rolePath, body); err != nil {
		return fmt.Errorf("write AppRole role %s: %w", rolePath, err)
	}
	return nil
}

// limit maps "no limit" (negative) to AppRole's 0.
func limit(n int) int { return max(n, 0) }

// mintSecretID issues a response-wrapped secret ID whose metadata names the
// agent: AppRole copies it into the login's entity alias, where the agent
// policy's templates read it.
func mintSecretID(ctx context.Context, c *api.Client, rolePath, metadata string, wrapTTL time.Duration) (string, error) {
	wc, err := c.Clone()
	if err != nil {
		return "", err
	}
	wc.SetToken(c.Token())
	wc.SetWrappingLookupFunc(func(string, string) string { return wrapTTL.String() })
	sid, err := wc.Logical().WriteWithContext(ctx, rolePath+"/secret-id", map[string]interface{}{"metadata": metadata})
	if isStatus(err, http.StatusForbidden) {
		return "", fmt.Errorf("the agent and its role are in place, but this token may not mint its secret ID (the strict admin policy); whoever issues secret IDs runs:\n  vault write -wrap-ttl=%s %s/secret-id metadata='%s'\n(or run onboard with -no-secret-id): %w", wrapTTL, rolePath, metadata, err)
	}
	if err != nil {
		return "", fmt.Errorf("issue wrapped secret id: %w", err)
	}
	if sid == nil || sid.WrapInfo == nil {
		return "", errors.New("issue wrapped secret id: Vault returned no wrapping token")
	}
	return sid.WrapInfo.Token, nil
}

func isStatus(err error, status int) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}
