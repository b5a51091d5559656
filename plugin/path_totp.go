package plugin

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// agents/:agent/creds/:cred/totp: RFC 6238 codes (totp.go); the seed never
// leaves.

// maxMinRemaining keeps a waiting TOTP request well inside Vault's default
// 90 s max_request_duration.
const maxMinRemaining = 60

func (b *backend) pathTOTP() []*framework.Path {
	return []*framework.Path{{
		Pattern:      "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "/totp$",
		DisplayAttrs: pathDisplay("totp-code"),
		Fields: map[string]*framework.FieldSchema{
			"agent": agentField(),
			"cred":  credField(),
			"min_remaining": {
				Type: framework.TypeInt,
				Description: "If fewer seconds than this remain in the current time step, wait for the next step " +
					"and return its code (0 to the period).",
			},
			"fresh": {
				Type: framework.TypeBool,
				Description: "Return a code of a later time step than any code of this credential handed out before " +
					"(a site refuses a code it has seen), waiting for the next step when needed.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     withAgent(b, opTOTPGenerate, readTOTPRequest, b.pathTOTPRead),
				DisplayAttrs: opVerb("generate"),
			},
		},
		HelpSynopsis: "Generate the current RFC 6238 TOTP code of a credential. The seed is never returned.",
		HelpDescription: `Returns code, seconds_remaining, valid_until, period, digits and algorithm.
With min_remaining=N the call waits (at most one period) when fewer than N
seconds are left, so the code does not expire while it is being typed.
With fresh=true the code is of a later time step than any handed out before
for this credential, on any node: the call waits for the next step if this
one's code was handed out already.`,
	}}
}

// totpRequest is what a code request asks for.
type totpRequest struct {
	cred         string
	minRemaining int
	fresh        bool
}

func readTOTPRequest(d *framework.FieldData) (totpRequest, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return totpRequest{}, resp
	}
	cred, resp := readCredName(d)
	if resp != nil {
		return totpRequest{}, resp
	}
	in := totpRequest{cred: cred}
	if v, ok, err := d.GetOkErr("min_remaining"); err != nil {
		return in, logical.ErrorResponse("min_remaining: %v", err)
	} else if ok {
		in.minRemaining = v.(int)
		if in.minRemaining < 0 || in.minRemaining > maxMinRemaining {
			return in, logical.ErrorResponse("min_remaining: must be between 0 and %d (and at most the period), got %d", maxMinRemaining, in.minRemaining)
		}
	}
	if v, ok, err := d.GetOkErr("fresh"); err != nil {
		return in, logical.ErrorResponse("fresh: %v", err)
	} else if ok {
		in.fresh = v.(bool)
	}
	return in, nil
}

// pathTOTPRead returns a code. The steps:
//
//  1. open the credential's current version (a failure is recorded);
//  2. a credential without a seed, or a min_remaining over its period: 400;
//  3. generate the code (currentCode): with fresh, of a step after every
//     one handed out (freshCode); else the current step's, or with fewer
//     than min_remaining seconds left the next step's (nextStepCode) —
//     either way its step is recorded as handed out (totp_fresh.go);
//  4. record totp.generate, then answer.
func (b *backend) pathTOTPRead(ctx context.Context, req *logical.Request, st *agentState, in totpRequest) (*logical.Response, error) {
	c, err := b.loadCred(ctx, req, st, in.cred, 0, opTOTPGenerate)
	if err != nil {
		return nil, err
	}
	t := c.rec.TOTP
	if t == nil {
		return logical.ErrorResponse("cred: %q has no TOTP seed; write totp_secret or totp_uri first", in.cred), nil
	}
	if in.minRemaining > t.Period {
		return logical.ErrorResponse("min_remaining: must be at most the period (%d), got %d", t.Period, in.minRemaining), nil
	}
	code, err := b.currentCode(ctx, req, st, in, t)
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opTOTPGenerate, outcomeSuccess)
	ev.Credential, ev.Version = in.cred, c.version
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	b.metrics.totp.Inc()
	return &logical.Response{Data: map[string]interface{}{
		// Only what a caller needs: Vault's audit device copies and walks
		// every field of every response, and this is the hottest path.
		// Who asked for which credential is in the request path of Vault's
		// audit entry and in the plugin's own event, with the chain,
		// joined by request ID.
		"code":              code.Code,
		"seconds_remaining": code.SecondsRemaining,
		"valid_until":       code.ValidUntil.Format(time.RFC3339),
		"period":            t.Period,
		"digits":            t.Digits,
		"algorithm":         t.Algorithm,
	}}, nil
}

// currentCode is the code a request is handed, its step recorded.
func (b *backend) currentCode(ctx context.Context, req *logical.Request, st *agentState, in totpRequest, t *totpSecret) (totpCode, error) {
	if in.fresh {
		return b.freshCode(ctx, req, st, in.cred, t, in.minRemaining)
	}
	now := b.now()
	code, err := t.generate(now)
	if err != nil {
		return totpCode{}, err
	}
	if code.SecondsRemaining < in.minRemaining {
		if code, err = b.nextStepCode(ctx, req, st, in.cred, t, code, now); err != nil {
			return totpCode{}, err
		}
	}
	return code, b.noteHandedOut(ctx, req.Storage, st.entry.Name, in.cred, code.ValidUntil)
}

// nextStepCode waits out the step of code, generated at now, and returns
// the next step's code. The wait is bounded by the period and cut short by
// the client or a revocation, re-checked before any code is returned (a
// 410 then).
func (b *backend) nextStepCode(ctx context.Context, req *logical.Request, st *agentState, cred string, t *totpSecret, code totpCode, now time.Time) (totpCode, error) {
	if err := b.waitFor(ctx, req, st, cred, code.ValidUntil.Sub(now)); err != nil {
		return totpCode{}, err
	}
	// Count from the boundary just reached (the timer fires a few ms
	// after it), so min_remaining equal to the period is satisfiable.
	if now = b.now(); now.Sub(code.ValidUntil) < time.Second {
		now = code.ValidUntil
	}
	return t.generate(now)
}
