package plugin

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// orgPrefix holds the orgs: orgs/<org> → orgEntry.
const orgPrefix = "orgs/"

func (b *backend) pathOrgs() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "orgs/?$",
			DisplayAttrs: pathDisplay("orgs"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathOrgList},
			},
			HelpSynopsis: "List organisations.",
		},
		{
			Pattern:      "orgs/" + namePattern("org") + "$",
			DisplayAttrs: pathDisplay("org"),
			Fields: map[string]*framework.FieldSchema{
				"org":         requiredString("Organisation name (lower-case letters, digits, '.', '_', '-')."),
				"description": descriptionField(),
				"metadata":    metadataField(),
			},
			ExistenceCheck: b.orgExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathOrgWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathOrgWrite},
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathOrgRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathOrgDelete},
			},
			HelpSynopsis:    "Manage an organisation, the middle link of each agent's delegation chain.",
			HelpDescription: "Deleting an organisation revokes every agent in it.",
		},
	}
}

func (b *backend) orgExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := d.Get("org").(string)
	if validateOrgName(name) != nil {
		return false, nil
	}
	e, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+name)
	return e != nil, err
}

func (b *backend) pathOrgList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := req.Storage.List(ctx, orgPrefix)
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return logical.ListResponse(keys), nil
}

func (b *backend) pathOrgRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("org").(string)
	if err := validateOrgName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	e, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	agents, err := b.agentsOfOrg(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(agents))
	for _, a := range agents {
		if a.Status == statusActive {
			names = append(names, a.Name)
		}
	}
	return &logical.Response{Data: map[string]interface{}{
		"name":        e.Name,
		"description": e.Description,
		"metadata":    e.Metadata,
		"created_at":  e.CreatedAt.Format(time.RFC3339Nano),
		"created_by":  e.CreatedBy,
		"agents":      names,
	}}, nil
}

// pathOrgWrite creates or updates an org: description and metadata, as
// given; a new org records who created it.
func (b *backend) pathOrgWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	name := d.Get("org").(string)
	if err := validateOrgName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	var in identityFields
	if resp := in.read(d); resp != nil {
		return resp, nil
	}
	b.identityLock.Lock()
	defer b.identityLock.Unlock()
	e, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+name)
	if err != nil {
		return nil, err
	}
	op := opOrgUpdate
	if e == nil {
		op = opOrgCreate
		e = &orgEntry{Name: name, CreatedAt: b.now().UTC(), CreatedBy: b.requestActor(req), Metadata: map[string]string{}}
	}
	in.apply(&e.Description, &e.Metadata)
	if err := putJSON(ctx, req.Storage, orgPrefix+name, e); err != nil {
		return nil, err
	}
	return nil, b.record(ctx, req.Storage, subjectOrg, name, b.orgEvent(req, name, op))
}

// pathOrgDelete revokes every agent of the org, then deletes the org.
func (b *backend) pathOrgDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("org").(string)
	if err := validateOrgName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.identityLock.Lock()
	defer b.identityLock.Unlock()

	e, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	agents, err := b.agentsOfOrg(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	revoked := []string{}
	for _, a := range agents {
		if a.Status != statusActive {
			continue
		}
		if err := b.revokeAgent(ctx, req, a.Name, "org "+name+" deleted"); err != nil {
			return nil, err
		}
		revoked = append(revoked, a.Name)
	}
	if err := b.deleteHooks(ctx, req.Storage, hookOwner{subjectOrg, name}); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, orgPrefix+name); err != nil {
		return nil, err
	}
	ev := b.orgEvent(req, name, opOrgDelete)
	if len(revoked) > 0 {
		ev.Detail = "revoked agents: " + joinMax(revoked, 20)
	}
	if err := b.record(ctx, req.Storage, subjectOrg, name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{"revoked_agents": revoked}}, nil
}

// agentsOfOrg scans agent entries for an org's members.
func (b *backend) agentsOfOrg(ctx context.Context, s logical.Storage, org string) ([]*agentEntry, error) {
	names, err := s.List(ctx, agentPrefix)
	if err != nil {
		return nil, err
	}
	var out []*agentEntry
	for _, n := range names {
		a, err := getJSON[agentEntry](ctx, s, agentPrefix+n)
		if err != nil {
			return nil, err
		}
		if a != nil && a.Org == org {
			out = append(out, a)
		}
	}
	return out, nil
}

func joinMax(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + ", …"
}

// orgEntry is an organisation, stored at orgs/<org>.
type orgEntry struct {
	// Name is the org's name.
	Name string `json:"name"`
	// Description is free text.
	Description string `json:"description"`
	// Metadata is free-form key/value data.
	Metadata map[string]string `json:"metadata"`
	// CreatedAt and CreatedBy record the creation.
	CreatedAt time.Time `json:"created_at"`
	CreatedBy actor     `json:"created_by"`
}
