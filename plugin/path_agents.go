package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Bounds of free-form identity fields.
const (
	maxDescription     = 1024
	maxMetadataEntries = 32
	maxMetadataValue   = 1024
)

func (b *backend) pathAgents() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "agents/?$",
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathAgentList},
			},
			HelpSynopsis: "List agents, with their org, address and status.",
		},
		{
			Pattern: "agents/" + namePattern("agent") + "$",
			Fields: map[string]*framework.FieldSchema{
				"agent":          {Type: framework.TypeString, Description: "Agent name: the local part of its address (lower-case letters, digits, '.', '_', '-'; at most 64).", Required: true},
				"org":            {Type: framework.TypeString, Description: "Organisation of the agent; must exist. Set at creation, fixed after."},
				"description":    {Type: framework.TypeString, Description: "Free text."},
				"metadata":       {Type: framework.TypeKVPairs, Description: "Free-form key/value metadata."},
				"send_allowlist": {Type: framework.TypeCommaStringSlice, Description: "Whom the agent may send mail to: addresses (a@b.example) and domains (b.example). Empty: anyone."},
			},
			ExistenceCheck: b.agentExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathAgentWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathAgentWrite},
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathAgentRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathAgentDelete},
			},
			HelpSynopsis:    "Create, read, update or revoke an agent identity.",
			HelpDescription: pathAgentHelpDesc,
		},
		{
			Pattern: "agents/" + namePattern("agent") + "/policy$",
			Fields: map[string]*framework.FieldSchema{
				"agent":          {Type: framework.TypeString, Description: "Agent name.", Required: true},
				"mount_accessor": mountAccessorField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathAgentPolicy},
			},
			HelpSynopsis: "The agent's Vault ACL policy, as HCL: its own paths only.",
		},
	}
}

func (b *backend) agentExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := d.Get("agent").(string)
	if validateAgentName(name) != nil {
		return false, nil
	}
	st, err := b.loadAgent(ctx, req.Storage, name)
	return st != nil && st.active(), err
}

func (b *backend) pathAgentList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	names, err := req.Storage.List(ctx, agentPrefix)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	info := make(map[string]interface{}, len(names))
	for _, n := range names {
		st, err := b.loadAgent(ctx, req.Storage, n)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		info[n] = map[string]interface{}{
			"org":     st.entry.Org,
			"address": address(cfg, n),
			"status":  st.entry.Status,
		}
	}
	return logical.ListResponseWithInfo(names, info), nil
}

func address(cfg *mailgentConfig, agent string) string {
	if cfg == nil || cfg.Domain == "" {
		return ""
	}
	return agent + "@" + cfg.Domain
}

func (b *backend) pathAgentRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("agent").(string)
	if err := validateAgentName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	st, err := b.loadAgent(ctx, req.Storage, name)
	if err != nil || st == nil {
		return nil, err
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	data := b.agentResponseData(cfg, st.entry)
	total, unread := 0, 0
	if st.active() {
		if total, unread, err = b.inboxCounts(ctx, req.Storage, st); err != nil {
			return nil, err
		}
	}
	data["messages_total"], data["messages_unread"] = total, unread
	return &logical.Response{Data: data}, nil
}

// agentResponseData is the one place an agent becomes a response.
func (b *backend) agentResponseData(cfg *mailgentConfig, a *agentEntry) map[string]interface{} {
	m := map[string]interface{}{
		"agent":            a.Name,
		"id":               a.ID,
		"address":          address(cfg, a.Name),
		"org":              a.Org,
		"description":      a.Description,
		"metadata":         a.Metadata,
		"delegation_chain": a.chain(),
		"send_allowlist":   nonNil(a.SendAllowlist),
		"created_by":       a.CreatedBy,
		"created_at":       a.CreatedAt.Format(time.RFC3339Nano),
		"status":           a.Status,
	}
	if a.RevokedAt != nil {
		m["revoked_at"] = a.RevokedAt.Format(time.RFC3339Nano)
		m["revoked_by"] = a.RevokedBy
	}
	return m
}

func (b *backend) pathAgentWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	name := d.Get("agent").(string)
	if err := validateAgentName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	description, hasDescription := d.GetOk("description")
	if hasDescription {
		if err := checkText("description", description.(string), maxDescription); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	md, hasMetadata, err := kvField(d, "metadata")
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if hasMetadata {
		if err := checkKV("metadata", md, maxMetadataEntries, 128, maxMetadataValue); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	allow, hasAllow := d.GetOk("send_allowlist")
	var allowlist []string
	if hasAllow {
		for _, a := range allow.([]string) {
			a = strings.ToLower(strings.TrimSpace(a))
			if a == "" {
				continue
			}
			if strings.Contains(a, "@") && !strings.HasPrefix(a, "@") {
				parsed, err := parseAddresses("send_allowlist", []string{a})
				if err != nil {
					return logical.ErrorResponse(err.Error()), nil
				}
				a = strings.ToLower(parsed[0].Address) // "Bob <bob@x>" matches as bob@x
			} else if err := validateDomain(strings.TrimPrefix(a, "@")); err != nil {
				return logical.ErrorResponse("send_allowlist: %q: %v", a, err), nil
			}
			allowlist = append(allowlist, a)
		}
		if len(allowlist) > 1000 {
			return logical.ErrorResponse("send_allowlist: at most 1000 entries"), nil
		}
	}

	b.identityLock.Lock()
	defer b.identityLock.Unlock()

	st, err := b.loadAgent(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if st != nil && !st.active() {
		// Never reused: policies, AppRole roles and tokens issued for the
		// revoked agent name its paths, and its audit trail keeps its name.
		return logical.ErrorResponse("agent: %q was revoked; agent names are not reused, choose another", name), nil
	}

	// Update: description and metadata only; org and chain are fixed.
	if st != nil && st.active() {
		e := *st.entry
		if org, ok := d.GetOk("org"); ok && org.(string) != e.Org {
			return logical.ErrorResponse("org: an agent's org is fixed at creation (it is part of its delegation chain)"), nil
		}
		if hasDescription {
			e.Description = description.(string)
		}
		if hasMetadata {
			e.Metadata = md
		}
		if hasAllow {
			e.SendAllowlist = allowlist
		}
		if err := putJSON(ctx, req.Storage, agentPrefix+name, &e); err != nil {
			return nil, err
		}
		b.agents.drop(name)
		if err := b.record(ctx, req.Storage, subjectAgent, name, b.agentEvent(req, &e, opAgentUpdate, outcomeSuccess)); err != nil {
			return nil, err
		}
		return nil, nil
	}

	// Create.
	orgName, _ := d.Get("org").(string)
	if orgName == "" {
		return logical.ErrorResponse("org: is required to create an agent"), nil
	}
	if err := validateOrgName(orgName); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	org, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+orgName)
	if err != nil {
		return nil, err
	}
	if org == nil {
		return logical.ErrorResponse("org: %q does not exist; create it first at orgs/%s", orgName, orgName), nil
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil || cfg.Domain == "" {
		return logical.ErrorResponse("config: set the mount's domain (write config) before creating agents"), nil
	}

	id, err := newID()
	if err != nil {
		return nil, err
	}
	kekID, err := newID()
	if err != nil {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := b.now().UTC()
	desc, _ := description.(string)
	e := &agentEntry{
		Name:          name,
		ID:            id,
		Org:           orgName,
		Description:   desc,
		Metadata:      md,
		SendAllowlist: allowlist,
		CreatedBy:     b.requestActor(req),
		CreatedAt:     now,
		Status:        statusActive,
	}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	// The KEK first: an agent entry never exists without its key.
	if err := putJSON(ctx, req.Storage, kekPrefix+name, &agentKEK{ID: kekID, Key: key, CreatedAt: now}); err != nil {
		return nil, err
	}
	if err := putJSON(ctx, req.Storage, agentPrefix+name, e); err != nil {
		_ = req.Storage.Delete(ctx, kekPrefix+name)
		return nil, err
	}
	b.agents.drop(name)
	b.signalDirectory() // the relays accept mail for it within moments
	if err := b.record(ctx, req.Storage, subjectAgent, name, b.agentEvent(req, e, opAgentCreate, outcomeSuccess)); err != nil {
		return nil, err
	}
	data := b.agentResponseData(cfg, e)
	data["messages_total"], data["messages_unread"] = 0, 0
	return &logical.Response{Data: data}, nil
}

// pathAgentDelete revokes the agent: see revokeAgent.
func (b *backend) pathAgentDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("agent").(string)
	if err := validateAgentName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.identityLock.Lock()
	defer b.identityLock.Unlock()
	return nil, b.revokeAgent(ctx, req, name, "")
}

// revokeAgent destroys the agent's KEK first — one storage operation after
// which no credential of the agent decrypts — then marks the entry revoked.
// Ciphertext left behind is removed by the periodic sweep. The caller holds
// b.identityLock.
func (b *backend) revokeAgent(ctx context.Context, req *logical.Request, name, reason string) error {
	st, err := b.loadAgent(ctx, req.Storage, name)
	if err != nil || st == nil || st.entry.Status != statusActive {
		return err
	}
	if err := req.Storage.Delete(ctx, kekPrefix+name); err != nil {
		return fmt.Errorf("destroy KEK: %w", err)
	}
	b.agents.drop(name)
	b.creds.dropAgent(name)
	b.inboxIdx.drop(name)
	b.inboxNotify.notify(name) // its long-polls answer 410 now
	b.signalDirectory()        // the relays refuse its mail at RCPT from now on

	e := *st.entry
	now := b.now().UTC()
	by := b.requestActor(req)
	e.Status, e.RevokedAt, e.RevokedBy = statusRevoked, &now, &by
	if err := putJSON(ctx, req.Storage, agentPrefix+name, &e); err != nil {
		// The KEK is gone: the agent is revoked even if this write failed,
		// as loadAgent treats an agent without a KEK as revoked.
		return err
	}
	b.agents.drop(name)
	ev := b.agentEvent(req, &e, opAgentRevoke, outcomeSuccess)
	ev.Detail = reason
	return b.record(ctx, req.Storage, subjectAgent, name, ev)
}

func (b *backend) pathAgentPolicy(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, err
	}
	acc, err := mountAccessor(req, d)
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
		{p + "/messages", `"read", "list"`},
		{p + "/messages/*", `"read", "list", "delete"`},
		{p + "/send", `"create", "update"`},
		{p + "/audit", `"read", "list"`},
		{p + "/sent", `"read", "list"`},
		{p + "/sent/*", `"read"`},
	}
	var s strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&s, "path %q { capabilities = [%s] }\n", r.path, r.caps)
	}
	return s.String()
}

const pathAgentHelpDesc = `
An agent has an address <agent>@<domain>, belongs to an org, and carries a
delegation chain human > org > agent captured from the Vault request that
created it (the requesting entity, or the token's display name). Creating an
agent generates its key-encryption key. Deleting it revokes it: the key is
destroyed first, so every credential becomes unreadable at once; the entry
stays as a tombstone with status "revoked".
`
