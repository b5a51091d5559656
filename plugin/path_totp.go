package plugin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// maxMinRemaining keeps a waiting TOTP request well inside Vault's default
// 90 s max_request_duration.
const maxMinRemaining = 60

func (b *backend) pathTOTP() []*framework.Path {
	return []*framework.Path{{
		Pattern: "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "/totp$",
		Fields: map[string]*framework.FieldSchema{
			"agent": {Type: framework.TypeString, Description: "Agent name.", Required: true},
			"cred":  {Type: framework.TypeString, Description: "Credential name.", Required: true},
			"min_remaining": {Type: framework.TypeInt, Description: "If fewer seconds than this remain in the " +
				"current time step, wait for the next step and return its code (0 to the period)."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.pathTOTPRead},
		},
		HelpSynopsis: "Generate the current RFC 6238 TOTP code of a credential. The seed is never returned.",
		HelpDescription: `Returns code, seconds_remaining, valid_until, period, digits and algorithm.
With min_remaining=N the call waits (at most one period) when fewer than N
seconds are left, so the code does not expire while it is being typed.`,
	}}
}

func (b *backend) pathTOTPRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if err := validateCredName(cred); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	minRemaining := 0
	if v, ok, err := d.GetOkErr("min_remaining"); err != nil {
		return logical.ErrorResponse("min_remaining: %v", err), nil
	} else if ok {
		minRemaining = v.(int)
		if minRemaining < 0 || minRemaining > maxMinRemaining {
			return logical.ErrorResponse("min_remaining: must be between 0 and %d (and at most the period), got %d", maxMinRemaining, minRemaining), nil
		}
	}
	st, resp, err := b.activeAgent(ctx, req, agent)
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opTOTPGenerate, cred, err)
	}
	_, rec, version, err := b.loadCred(ctx, req, st, cred, 0, opTOTPGenerate)
	if err != nil {
		return nil, err
	}
	t := rec.TOTP
	if t == nil {
		return nil, logical.CodedError(http.StatusBadRequest, fmt.Sprintf("cred: %q has no TOTP seed; write totp_secret or totp_uri first", cred))
	}
	if minRemaining > t.Period {
		return logical.ErrorResponse("min_remaining: must be at most the period (%d), got %d", t.Period, minRemaining), nil
	}

	now := b.now()
	code, err := t.generate(now)
	if err != nil {
		return nil, err
	}
	if code.SecondsRemaining < minRemaining {
		// Wait for the next step: bounded by the period, cut short by the
		// client or a revocation — re-checked before any code is returned.
		revoked := b.inboxNotify.channel(agent)
		timer := time.NewTimer(code.ValidUntil.Sub(now))
		defer timer.Stop()
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-revoked:
				if err := b.stillActive(ctx, req, st, opTOTPGenerate, cred); err != nil {
					return nil, err
				}
				revoked = b.inboxNotify.channel(agent) // new mail, not a revocation
			case <-timer.C:
				waiting = false
			}
		}
		if err := b.stillActive(ctx, req, st, opTOTPGenerate, cred); err != nil {
			return nil, err
		}
		// Count from the boundary just reached (the timer fires a few ms
		// after it), so min_remaining equal to the period is satisfiable.
		if now = b.now(); now.Sub(code.ValidUntil) < time.Second {
			now = code.ValidUntil
		}
		if code, err = t.generate(now); err != nil {
			return nil, err
		}
	}

	ev := b.agentEvent(req, st.entry, opTOTPGenerate, outcomeSuccess)
	ev.Credential, ev.Version = cred, version
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		// Only what a caller needs: Vault's audit device copies and walks
		// every field of every response (a tenth of Vault's CPU on this, the
		// hottest path). Who asked for which credential is in the request
		// path of Vault's audit entry and in the plugin's own event, with
		// the chain, joined by request ID.
		"code":              code.Code,
		"seconds_remaining": code.SecondsRemaining,
		"valid_until":       code.ValidUntil.Format(time.RFC3339),
		"period":            t.Period,
		"digits":            t.Digits,
		"algorithm":         t.Algorithm,
	}}, nil
}
