package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

const maxLoginDetail = 1024

func (b *backend) pathLogin() []*framework.Path {
	return []*framework.Path{{
		Pattern: "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "/login$",
		Fields: map[string]*framework.FieldSchema{
			"agent":   {Type: framework.TypeString, Description: "Agent name.", Required: true},
			"cred":    {Type: framework.TypeString, Description: "Credential name.", Required: true},
			"outcome": {Type: framework.TypeString, Description: "success or failure.", Required: true},
			"detail":  {Type: framework.TypeString, Description: "Short free text, e.g. the page reached or the error seen. Must not contain a secret."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathLoginReport},
			logical.CreateOperation: &framework.PathOperation{Callback: b.pathLoginReport},
		},
		ExistenceCheck:  func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },
		HelpSynopsis:    "Report a login attempt with this credential: it goes into the agent's audit trail.",
		HelpDescription: "The outcome is what the agent observed; the event records who reported it, when and from where.",
	}}
}

func (b *backend) pathLoginReport(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if err := validateCredName(cred); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	outcome := strings.ToLower(d.Get("outcome").(string))
	if outcome != outcomeSuccess && outcome != outcomeFailure {
		return logical.ErrorResponse("outcome: must be success or failure, got %q", d.Get("outcome")), nil
	}
	detail := d.Get("detail").(string)
	if err := checkText("detail", detail, maxLoginDetail); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	st, resp, err := b.activeAgent(ctx, req, agent)
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opLoginReport, cred, err)
	}

	lock := locksutil.LockForKey(b.locks, credMetaKey(agent, cred))
	lock.Lock()
	defer lock.Unlock()
	meta, rec, version, err := b.loadCred(ctx, req, st, cred, 0, opLoginReport)
	if err != nil {
		return nil, err
	}
	// The audit trail never holds a secret, so neither may the detail.
	if leaks(detail, rec) {
		return logical.ErrorResponse("detail: contains the credential's password, seed or a field value; describe the outcome without secrets"), nil
	}
	now := b.now().UTC()
	updated := *meta // meta may be the cached copy: never modify it
	updated.LastLogin = &loginReport{At: now, Outcome: outcome}
	b.creds.drop(credCacheKey(agent, cred))
	if err := putJSON(ctx, req.Storage, credMetaKey(agent, cred), &updated); err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opLoginReport, outcome)
	ev.Credential, ev.Version, ev.Detail = cred, version, detail
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent":            agent,
		"delegation_chain": st.entry.chain(),
		"credential":       cred,
		"outcome":          outcome,
		"event_id":         ev.ID,
		"at":               now.Format(time.RFC3339Nano),
	}}, nil
}

// leaks reports whether text holds one of the record's secrets.
func leaks(text string, rec *credRecord) bool {
	if text == "" {
		return false
	}
	secrets := []string{rec.Password}
	if rec.TOTP != nil {
		secrets = append(secrets, rec.TOTP.Seed)
	}
	for _, v := range rec.Fields {
		secrets = append(secrets, v)
	}
	upper := strings.ToUpper(strings.Join(strings.Fields(text), ""))
	for _, s := range secrets {
		if len(s) >= 6 && (strings.Contains(text, s) || strings.Contains(upper, strings.ToUpper(s))) {
			return true
		}
	}
	return false
}
