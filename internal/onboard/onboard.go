// Package onboard gives an agent its identity end to end with an admin's
// Vault token: the agent in the Mailgent mount, its ACL policy, an AppRole
// role bound to that policy, the role ID, and a response-wrapped secret ID
// that only the agent should unwrap (client.LoginAppRole does that).
package onboard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
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
	// AppRoleMount is the AppRole auth mount path, enabled if missing.
	AppRoleMount string
	// TokenTTL and TokenMaxTTL bound the agent's Vault tokens.
	TokenTTL, TokenMaxTTL time.Duration
	// WrapTTL is how long the wrapped secret ID can be unwrapped.
	WrapTTL time.Duration
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
	WrappingToken string   `json:"wrapped_secret_id"`
	WrapTTL       string   `json:"wrap_ttl"`
}

// Run onboards one agent. It is safe to run again for an existing agent:
// the policy and role are rewritten and a new secret ID is issued.
func Run(ctx context.Context, c *api.Client, o Options) (*Result, error) {
	if o.Mount == "" || o.Agent == "" || o.Org == "" {
		return nil, errors.New("mount, org and agent are required")
	}
	mount := strings.Trim(o.Mount, "/")
	approle := strings.Trim(o.AppRoleMount, "/")
	if approle == "" {
		approle = "approle"
	}
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

	pol, err := l.ReadWithContext(ctx, mount+"/agents/"+o.Agent+"/policy")
	if err != nil || pol == nil {
		return nil, fmt.Errorf("read agent policy: %v", err)
	}
	policyName, _ := pol.Data["name"].(string)
	policyHCL, _ := pol.Data["policy"].(string)
	if err := c.Sys().PutPolicyWithContext(ctx, policyName, policyHCL); err != nil {
		return nil, fmt.Errorf("write policy %s: %w", policyName, err)
	}

	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list auth methods: %w", err)
	}
	if _, ok := auths[approle+"/"]; !ok {
		if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, approle, &api.EnableAuthOptions{Type: "approle"}); err != nil {
			return nil, fmt.Errorf("enable approle at %s/: %w", approle, err)
		}
	}

	role := policyName
	roleBody := map[string]interface{}{
		"token_policies": []string{policyName},
		"token_type":     "service",
	}
	if o.TokenTTL > 0 {
		roleBody["token_ttl"] = int(o.TokenTTL.Seconds())
	}
	if o.TokenMaxTTL > 0 {
		roleBody["token_max_ttl"] = int(o.TokenMaxTTL.Seconds())
	}
	rolePath := "auth/" + approle + "/role/" + role
	if _, err := l.WriteWithContext(ctx, rolePath, roleBody); err != nil {
		return nil, fmt.Errorf("write approle role: %w", err)
	}
	rid, err := l.ReadWithContext(ctx, rolePath+"/role-id")
	if err != nil || rid == nil {
		return nil, fmt.Errorf("read role id: %v", err)
	}

	wrapTTL := o.WrapTTL
	if wrapTTL <= 0 {
		wrapTTL = 10 * time.Minute
	}
	wc, err := c.Clone()
	if err != nil {
		return nil, err
	}
	wc.SetToken(c.Token())
	wc.SetWrappingLookupFunc(func(string, string) string { return wrapTTL.String() })
	sid, err := wc.Logical().WriteWithContext(ctx, rolePath+"/secret-id", nil)
	if err != nil {
		return nil, fmt.Errorf("issue wrapped secret id: %w", err)
	}
	if sid == nil || sid.WrapInfo == nil {
		return nil, errors.New("issue wrapped secret id: Vault returned no wrapping token")
	}

	res := &Result{
		Agent:         o.Agent,
		Org:           o.Org,
		Policy:        policyName,
		Role:          role,
		AppRoleMount:  approle,
		RoleID:        fmt.Sprint(rid.Data["role_id"]),
		WrappingToken: sid.WrapInfo.Token,
		WrapTTL:       wrapTTL.String(),
	}
	res.Address, _ = agent.Data["address"].(string)
	if chain, ok := agent.Data["delegation_chain"].([]interface{}); ok {
		for _, l := range chain {
			res.Chain = append(res.Chain, fmt.Sprint(l))
		}
	}
	return res, nil
}
