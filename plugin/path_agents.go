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

// agents/ and agents/:agent: agent identities — their entries and keys,
// creation, update and revocation. An agent's policy is in
// path_policies.go.

// Storage of agents and their keys.
const (
	agentPrefix = "agents/" // agents/<agent> → agentEntry
	kekPrefix   = "keks/"   // keks/<agent> → agentKEK (seal-wrapped)
)

// Agent status values.
const (
	statusActive  = "active"
	statusRevoked = "revoked"
)

// Bounds of free-form identity fields.
const (
	maxDescription     = 1024
	maxMetadataEntries = 32
	maxMetadataKey     = 128
	maxMetadataValue   = 1024
	maxAllowlist       = 1000
)

func (b *backend) pathAgents() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "agents/?$",
			DisplayAttrs: pathDisplay("agents"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathAgentList},
			},
			HelpSynopsis: "List agents, with their org, address and status.",
		},
		{
			Pattern:        "agents/" + namePattern("agent") + "$",
			DisplayAttrs:   pathDisplay("agent"),
			Fields:         agentFields(),
			ExistenceCheck: b.agentExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathAgentWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathAgentWrite},
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathAgentRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathAgentDelete, DisplayAttrs: opVerb("revoke")},
			},
			HelpSynopsis:    "Create, read, update or revoke an agent identity.",
			HelpDescription: pathAgentHelpDesc,
		},
	}
}

func agentFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent": requiredString("Agent name: the local part of its address (lower-case letters, digits, '.', '_', '-'; at most 64)."),
		"org": {
			Type:        framework.TypeString,
			Description: "Organisation of the agent; must exist. Set at creation, fixed after.",
		},
		"description": descriptionField(),
		"metadata":    metadataField(),
		"send_allowlist": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Whom the agent may send mail to: addresses (a@b.example) and domains (b.example). Empty: anyone.",
		},
	}
}

// agentExists tells Vault whether a write creates or updates: an active
// agent is updated; none, or a revoked one (whose name is not reused), is
// "created" — and refused.
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

// agentInput is a validated agent write; a field not given stays as it is
// on an update.
type agentInput struct {
	name     string
	org      string
	orgGiven bool
	identityFields
	hasAllow  bool
	allowlist []string
}

// identityFields are the free-form fields of an org or an agent.
type identityFields struct {
	description             string
	metadata                map[string]string
	hasDescription, hasMeta bool
}

// descriptionField and metadataField are an org's or an agent's
// free-form fields.
func descriptionField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "Free text.",
	}
}

func metadataField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeKVPairs,
		Description: "Free-form key/value metadata.",
	}
}

// read reads description and metadata, within bounds.
func (in *identityFields) read(d *framework.FieldData) *logical.Response {
	if v, ok := d.GetOk("description"); ok {
		in.description, in.hasDescription = v.(string), true
		if err := checkText("description", in.description, maxDescription); err != nil {
			return logical.ErrorResponse(err.Error())
		}
	}
	var err error
	if in.metadata, in.hasMeta, err = kvField(d, "metadata"); err != nil {
		return logical.ErrorResponse(err.Error())
	}
	if in.hasMeta {
		if err := checkKV("metadata", in.metadata, maxMetadataEntries, maxMetadataKey, maxMetadataValue); err != nil {
			return logical.ErrorResponse(err.Error())
		}
	}
	return nil
}

// apply sets the fields given.
func (in *identityFields) apply(description *string, metadata *map[string]string) {
	if in.hasDescription {
		*description = in.description
	}
	if in.hasMeta {
		*metadata = in.metadata
	}
}

// readAgentWrite validates every field of a write before anything is read
// or written.
func readAgentWrite(d *framework.FieldData) (*agentInput, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return nil, resp
	}
	in := &agentInput{name: d.Get("agent").(string)}
	if err := validateAgentName(in.name); err != nil {
		return nil, logical.ErrorResponse(err.Error())
	}
	if resp := in.identityFields.read(d); resp != nil {
		return nil, resp
	}
	if v, ok := d.GetOk("send_allowlist"); ok {
		var err error
		in.hasAllow = true
		if in.allowlist, err = readAllowlist(v.([]string)); err != nil {
			return nil, logical.ErrorResponse(err.Error())
		}
	}
	if v, ok := d.GetOk("org"); ok {
		in.org, in.orgGiven = v.(string), true
	}
	return in, nil
}

// readAllowlist normalises send_allowlist: lower-case addresses ("Bob
// <bob@x>" matches as bob@x) and domains (with or without a leading @).
func readAllowlist(list []string) ([]string, error) {
	var out []string
	for _, a := range list {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		if strings.Contains(a, "@") && !strings.HasPrefix(a, "@") {
			parsed, err := parseAddresses("send_allowlist", []string{a})
			if err != nil {
				return nil, err
			}
			a = strings.ToLower(parsed[0].Address)
		} else if err := validateDomain(strings.TrimPrefix(a, "@")); err != nil {
			return nil, fmt.Errorf("send_allowlist: %q: %v", a, err)
		}
		out = append(out, a)
	}
	if len(out) > maxAllowlist {
		return nil, fmt.Errorf("send_allowlist: at most %d entries", maxAllowlist)
	}
	return out, nil
}

// pathAgentWrite creates or updates an agent, by what storage holds under
// the identity lock (Vault's create/update choice was made before it):
// a revoked agent's name is refused, an active agent is updated
// (updateAgent), and otherwise the agent is created (createAgent).
func (b *backend) pathAgentWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	in, resp := readAgentWrite(d)
	if resp != nil {
		return resp, nil
	}
	b.identityLock.Lock()
	defer b.identityLock.Unlock()
	st, err := b.loadAgent(ctx, req.Storage, in.name)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return b.createAgent(ctx, req, in)
	case !st.active():
		// Never reused: policies, AppRole roles and tokens issued for the
		// revoked agent name its paths, and its audit trail keeps its name.
		return logical.ErrorResponse("agent: %q was revoked; agent names are not reused, choose another", in.name), nil
	}
	return b.updateAgent(ctx, req, st, in)
}

// createAgent makes an agent. The steps:
//
//  1. its org: required, and it must exist;
//  2. the mount's domain, which gives it its address;
//  3. its KEK, stored first (an agent entry never exists without its key),
//     then its entry, with the delegation chain's human: the requester;
//  4. the relays accept mail for it within moments (directory.agent);
//  5. record agent.create, and answer with the agent.
func (b *backend) createAgent(ctx context.Context, req *logical.Request, in *agentInput) (*logical.Response, error) {
	if err := b.checkAgentOrg(ctx, req.Storage, in.org); err != nil {
		return respond(err)
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil || cfg.Domain == "" {
		return logical.ErrorResponse("config: set the mount's domain (write config) before creating agents"), nil
	}
	e, err := b.storeNewAgent(ctx, req, in)
	if err != nil {
		return nil, err
	}
	b.directory.agent(e.Name)
	if err := b.record(ctx, req.Storage, subjectAgent, e.Name, b.agentEvent(req, e, opAgentCreate, outcomeSuccess)); err != nil {
		return nil, err
	}
	data := b.agentResponseData(cfg, e)
	data["messages_total"], data["messages_unread"] = 0, 0
	return &logical.Response{Data: data}, nil
}

// checkAgentOrg checks the org a new agent names: given, valid, existing.
func (b *backend) checkAgentOrg(ctx context.Context, s logical.Storage, org string) error {
	if org == "" {
		return errBadRequest("org: is required to create an agent")
	}
	if err := validateOrgName(org); err != nil {
		return errBadRequest("%s", err.Error())
	}
	e, err := getJSON[orgEntry](ctx, s, orgPrefix+org)
	if err != nil {
		return err
	}
	if e == nil {
		return errBadRequest("org: %q does not exist; create it first at orgs/%s", org, org)
	}
	return nil
}

// storeNewAgent stores a new agent: its KEK first, then its entry (and,
// if that fails, no KEK either).
func (b *backend) storeNewAgent(ctx context.Context, req *logical.Request, in *agentInput) (*agentEntry, error) {
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
	e := &agentEntry{
		Name:          in.name,
		ID:            id,
		Org:           in.org,
		Description:   in.description,
		Metadata:      in.metadata,
		SendAllowlist: in.allowlist,
		CreatedBy:     b.requestActor(req),
		CreatedAt:     now,
		Status:        statusActive,
	}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	if err := putJSON(ctx, req.Storage, kekPrefix+in.name, &agentKEK{ID: kekID, Key: key, CreatedAt: now}); err != nil {
		return nil, err
	}
	if err := putJSON(ctx, req.Storage, agentPrefix+in.name, e); err != nil {
		_ = req.Storage.Delete(ctx, kekPrefix+in.name)
		return nil, err
	}
	b.agents.drop(in.name)
	return e, nil
}

// updateAgent changes what an update may change — description, metadata,
// send_allowlist — and records agent.update. The org (and so the
// delegation chain) is fixed at creation.
func (b *backend) updateAgent(ctx context.Context, req *logical.Request, st *agentState, in *agentInput) (*logical.Response, error) {
	e := *st.entry
	if in.orgGiven && in.org != e.Org {
		return logical.ErrorResponse("org: an agent's org is fixed at creation (it is part of its delegation chain)"), nil
	}
	in.apply(&e.Description, &e.Metadata)
	if in.hasAllow {
		e.SendAllowlist = in.allowlist
	}
	if err := putJSON(ctx, req.Storage, agentPrefix+e.Name, &e); err != nil {
		return nil, err
	}
	b.agents.drop(e.Name)
	return nil, b.record(ctx, req.Storage, subjectAgent, e.Name, b.agentEvent(req, &e, opAgentUpdate, outcomeSuccess))
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
	b.directory.agent(name)    // the relays refuse its mail at RCPT from now on

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

// agentEntry is an agent identity, stored at agents/<agent>. After
// revocation it stays as a tombstone so its paths answer "revoked" and its
// audit trail keeps its context.
type agentEntry struct {
	// Name is the agent's name, the local part of its address.
	Name string `json:"name"`
	// ID is unique per incarnation: a name reused after revocation gets a new ID.
	ID string `json:"id"`
	// Org is the agent's organisation.
	Org string `json:"org"`
	// Description is free text.
	Description string `json:"description"`
	// Metadata is free-form key/value data.
	Metadata map[string]string `json:"metadata"`
	// SendAllowlist limits whom the agent may send to: addresses and
	// domains; empty means anyone.
	SendAllowlist []string `json:"send_allowlist,omitempty"`
	// CreatedBy is the requester that created the agent: the chain's human.
	CreatedBy actor `json:"created_by"`
	// CreatedAt is the creation time.
	CreatedAt time.Time `json:"created_at"`
	// Status is active or revoked.
	Status string `json:"status"`
	// RevokedAt and RevokedBy record the revocation.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy *actor     `json:"revoked_by,omitempty"`
	// Swept is set once a revoked agent's ciphertext has been removed.
	Swept bool `json:"swept,omitempty"`
}

// chain is the delegation chain human > org > agent.
func (a *agentEntry) chain() []string {
	return []string{"human:" + a.CreatedBy.name(), "org:" + a.Org, "agent:" + a.Name}
}

// agentKEK is an agent's key-encryption key, stored at keks/<agent>.
type agentKEK struct {
	// ID identifies this KEK; sealed entries name the KEK that wrapped them.
	ID string `json:"id"`
	// Key is the 256-bit AES key.
	Key []byte `json:"key"`
	// CreatedAt is when the key was made.
	CreatedAt time.Time `json:"created_at"`
}

// agentState is what request handlers need of an agent.
type agentState struct {
	entry *agentEntry
	kek   *agentKEK // nil once revoked
}

func (s *agentState) active() bool { return s.kek != nil && s.entry.Status == statusActive }

// agentCache holds agent entries and KEKs in memory, so a TOTP request does
// not read them from storage each time. It is dropped for an agent whenever
// this node changes it and in Invalidate when another node did.
type agentCache = lockedMap[*agentState]

// loadAgent returns the agent's entry and KEK, or nil if there is no such
// agent. A revoked agent comes back with a nil KEK.
func (b *backend) loadAgent(ctx context.Context, s logical.Storage, name string) (*agentState, error) {
	if st := b.agents.get(name); st != nil {
		return st, nil
	}
	epoch := b.agents.currentEpoch()
	entry, err := getJSON[agentEntry](ctx, s, agentPrefix+name)
	if err != nil || entry == nil {
		return nil, err
	}
	st := &agentState{entry: entry}
	if entry.Status == statusActive {
		if st.kek, err = getJSON[agentKEK](ctx, s, kekPrefix+name); err != nil {
			return nil, err
		}
	}
	b.agents.putAt(name, st, epoch)
	return st, nil
}

const pathAgentHelpDesc = `
An agent has an address <agent>@<domain>, belongs to an org, and carries a
delegation chain human > org > agent captured from the Vault request that
created it (the requesting entity, or the token's display name). Creating an
agent generates its key-encryption key. Deleting it revokes it: the key is
destroyed first, so every credential becomes unreadable at once; the entry
stays as a tombstone with status "revoked".
`
