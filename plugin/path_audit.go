package plugin

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const defaultAuditPage = 100

func auditQueryFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"operation": {
			Type:        framework.TypeString,
			Description: "Only this operation (e.g. totp.generate), or a family (cred.*).",
		},
		"credential": {
			Type:        framework.TypeString,
			Description: "Only events about this credential.",
		},
		"since": {
			Type:        framework.TypeString,
			Description: "Only events at or after this time: RFC 3339, or a duration back from now (e.g. 1h).",
		},
		"limit": limitField("Events", auditMaxPerPage, defaultAuditPage),
		"after": afterField(),
	}
}

func (b *backend) pathAudit() []*framework.Path {
	agentFields := auditQueryFields()
	agentFields["agent"] = agentField()
	orgFields := auditQueryFields()
	orgFields["org"] = requiredString("Org name.")
	return []*framework.Path{
		{
			Pattern:      "agents/" + namePattern("agent") + "/audit/?$",
			DisplayAttrs: pathDisplay("agent-audit-events"),
			Fields:       agentFields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathAgentAudit},
				logical.ListOperation: &framework.PathOperation{Callback: b.pathAgentAudit},
			},
			HelpSynopsis:    "The agent's audit trail, newest first.",
			HelpDescription: auditHelpDesc,
		},
		{
			Pattern:      "orgs/" + namePattern("org") + "/audit/?$",
			DisplayAttrs: pathDisplay("org-audit-events"),
			Fields:       orgFields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathOrgAudit},
				logical.ListOperation: &framework.PathOperation{Callback: b.pathOrgAudit},
			},
			HelpSynopsis:    "The org's audit trail (org changes), newest first.",
			HelpDescription: auditHelpDesc,
		},
	}
}

// pathAgentAudit lists an agent's events; a revoked agent's trail stays
// readable: that is when it matters.
func (b *backend) pathAgentAudit(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("agent").(string)
	if err := validateAgentName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	q, resp := b.readAuditQuery(d)
	if resp != nil {
		return resp, nil
	}
	st, err := b.loadAgent(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNoAgent(name)
	}
	return auditResponse(ctx, req, subjectAgent, name, q)
}

func (b *backend) pathOrgAudit(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("org").(string)
	if err := validateOrgName(name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	q, resp := b.readAuditQuery(d)
	if resp != nil {
		return resp, nil
	}
	return auditResponse(ctx, req, subjectOrg, name, q)
}

func auditResponse(ctx context.Context, req *logical.Request, kind, name string, q auditQuery) (*logical.Response, error) {
	events, next, err := listEvents(ctx, req.Storage, kind, name, q)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(events))
	list := make([]map[string]interface{}, len(events))
	for i, e := range events {
		ids[i], list[i] = e.ID, e.responseData()
	}
	return pageResponse(req, ids, list, "events", next, nil), nil
}

func (b *backend) readAuditQuery(d *framework.FieldData) (auditQuery, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return auditQuery{}, resp
	}
	q := auditQuery{}
	q.operation = d.Get("operation").(string)
	q.credential = d.Get("credential").(string)
	if q.credential != "" {
		if err := validateCredName(q.credential); err != nil {
			return q, logical.ErrorResponse(strings.Replace(err.Error(), "cred:", "credential:", 1))
		}
	}
	var err error
	if q.since, err = readSince(d, b.now()); err != nil {
		return q, logical.ErrorResponse(err.Error())
	}
	var resp *logical.Response
	if q.page, resp = readPage(d, defaultAuditPage, auditMaxPerPage, validCursor); resp != nil {
		return q, resp
	}
	return q, nil
}

// validCursor checks the shape of an event ID:
// 8 digits / 19 digits - 8 hex . 3 digits.
func validCursor(s string) bool {
	if len(s) != 8+1+19+1+8+1+3 || s[8] != '/' || s[28] != '-' || s[37] != '.' {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 28 || i == 37:
		case i > 28 && i < 37 && (c >= 'a' && c <= 'f' || c >= '0' && c <= '9'):
		case (i < 28 || i > 37) && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

const auditHelpDesc = `
Every credential write, read and delete, TOTP generation, login report and
agent or org change is an event with the agent, its delegation chain, the
requesting entity and token display name, Vault's request ID (to join Vault's
own audit device log), the remote address, time, operation and outcome. No
event holds a secret. Filter with operation, credential and since; page with
limit and after=<next_cursor>. Events older than the mount's audit_retention
are removed.
`
