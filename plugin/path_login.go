package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// agents/:agent/creds/:cred/login: the agent reports a login attempt with
// one of its credentials; the report goes into its audit trail and the
// credential's last_login.

const maxLoginDetail = 1024

func (b *backend) pathLogin() []*framework.Path {
	return []*framework.Path{{
		Pattern:      "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "/login$",
		DisplayAttrs: pathDisplay("login"),
		Fields: map[string]*framework.FieldSchema{
			"agent":   agentField(),
			"cred":    credField(),
			"outcome": requiredString("success or failure."),
			"detail": {
				Type:        framework.TypeString,
				Description: "Short free text, e.g. the page reached or the error seen. Must not contain a secret.",
			},
		},
		Operations:      writeOperations(withAgent(b, opLoginReport, readLoginReport, b.pathLoginReport), opVerb("report")),
		ExistenceCheck:  func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },
		HelpSynopsis:    "Report a login attempt with this credential: it goes into the agent's audit trail.",
		HelpDescription: "The outcome is what the agent observed; the event records who reported it, when and from where.",
	}}
}

// loginInput is a login report.
type loginInput struct {
	cred, outcome, detail string
}

func readLoginReport(d *framework.FieldData) (loginInput, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return loginInput{}, resp
	}
	cred, resp := readCredName(d)
	if resp != nil {
		return loginInput{}, resp
	}
	in := loginInput{cred: cred, outcome: strings.ToLower(d.Get("outcome").(string)), detail: d.Get("detail").(string)}
	if in.outcome != outcomeSuccess && in.outcome != outcomeFailure {
		return in, logical.ErrorResponse("outcome: must be success or failure, got %q", d.Get("outcome"))
	}
	if err := checkText("detail", in.detail, maxLoginDetail); err != nil {
		return in, logical.ErrorResponse(err.Error())
	}
	return in, nil
}

// pathLoginReport records a login report. The steps:
//
//  1. lock the credential and open its current version;
//  2. refuse a detail that holds one of its secrets (the audit trail never
//     holds a secret);
//  3. set the credential's last_login;
//  4. record login.report with the outcome, then answer.
func (b *backend) pathLoginReport(ctx context.Context, req *logical.Request, st *agentState, in loginInput) (*logical.Response, error) {
	agent := st.entry.Name
	lock := b.credLock(agent, in.cred)
	lock.Lock()
	defer lock.Unlock()
	c, err := b.loadCred(ctx, req, st, in.cred, 0, opLoginReport)
	if err != nil {
		return nil, err
	}
	if leaks(in.detail, c.rec) {
		return logical.ErrorResponse("detail: contains the credential's password, seed or a field value; describe the outcome without secrets"), nil
	}
	now := b.now().UTC()
	updated := *c.meta // may be the cached copy: never modify it
	updated.LastLogin = &loginReport{At: now, Outcome: in.outcome}
	b.creds.drop(credCacheKey(agent, in.cred))
	if err := putJSON(ctx, req.Storage, credMetaKey(agent, in.cred), &updated); err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opLoginReport, in.outcome)
	ev.Credential, ev.Version, ev.Detail = in.cred, c.version, in.detail
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent":            agent,
		"delegation_chain": st.entry.chain(),
		"credential":       in.cred,
		"outcome":          in.outcome,
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
	secrets = append(secrets, rec.BackupCodes...)
	upper := strings.ToUpper(strings.Join(strings.Fields(text), ""))
	for _, s := range secrets {
		if len(s) >= 6 && (strings.Contains(text, s) || strings.Contains(upper, strings.ToUpper(s))) {
			return true
		}
	}
	return false
}
