package plugin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// agents/:agent/messages/wait: the long-poll an agent makes right after
// "send me a code".

const (
	defaultWaitTimeout = 30 * time.Second
	// waitLookback lets an agent that asks a moment late still get its code.
	waitLookback = 60 * time.Second
)

func (b *backend) pathWait() []*framework.Path {
	fields := messageFilterFields()
	fields["trust"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "verified or any. With from set, the default is verified (only mail whose sender domain an " +
			"aligned DKIM/SPF/DMARC pass authenticated) unless the mount's require_verified_sender is false; any " +
			"also returns unverified mail, marked.",
	}
	fields["timeout"] = &framework.FieldSchema{
		Type:        framework.TypeInt,
		Description: "Seconds to wait (default 30, at most the mount's max_wait_timeout).",
	}
	return []*framework.Path{{
		// Before messages/:id, which would otherwise take "wait" as an ID.
		Pattern:      "agents/" + namePattern("agent") + "/messages/wait$",
		DisplayAttrs: pathDisplay("message"),
		Fields:       fields,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     withAgent(b, opMessageWait, b.readWait, b.pathMessageWait),
				DisplayAttrs: opVerb("wait-for"),
			},
		},
		HelpSynopsis:    "Wait for the first matching unread message, read it and return it.",
		HelpDescription: messageWaitHelp,
	}}
}

// waitInput is what a wait asks for; trust and timeout take the mount's
// defaults and bounds when the wait starts.
type waitInput struct {
	filter     messageFilter
	timeout    int // seconds
	timeoutSet bool
}

func (b *backend) readWait(d *framework.FieldData) (waitInput, *logical.Response) {
	in := waitInput{}
	var resp *logical.Response
	if in.filter, resp = b.readMessageFilter(d, mailmsg.TrustVerified, trustAny); resp != nil {
		return in, resp
	}
	v, ok, err := d.GetOkErr("timeout")
	if err != nil {
		return in, logical.ErrorResponse("timeout: %v", err)
	}
	if ok {
		in.timeout, in.timeoutSet = v.(int), true
	}
	return in, nil
}

// pathMessageWait returns the first matching unread message, once it is
// there. The steps:
//
//  1. the mount's limits: the sender verdict asked for (waitTrust) and the
//     timeout, within max_wait_timeout (a 400 beyond it);
//  2. wait (awaitMessage): each round re-checks the agent (410 once
//     revoked), looks for the earliest matching unread message and claims
//     it, or waits for new mail; 408 when the timeout passes.
func (b *backend) pathMessageWait(ctx context.Context, req *logical.Request, st *agentState, in waitInput) (*logical.Response, error) {
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = defaultConfig()
	}
	in.filter.trust = waitTrust(in.filter, cfg)
	timeout := min(defaultWaitTimeout, cfg.MaxWaitTimeout)
	if in.timeoutSet {
		if in.timeout < 0 || time.Duration(in.timeout)*time.Second > cfg.MaxWaitTimeout {
			return logical.ErrorResponse("timeout: must be between 0 and %d seconds (the mount's max_wait_timeout), got %d", int(cfg.MaxWaitTimeout.Seconds()), in.timeout), nil
		}
		timeout = time.Duration(in.timeout) * time.Second
	}
	// Answer 408 before Vault's own request deadline cuts the wait short.
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-time.Second)
	}
	return b.awaitMessage(ctx, req, st, in.filter, timeout)
}

// waitTrust is the sender verdict a wait asks for: what the caller said,
// else verified when it names a sender and the mount requires verified
// senders — an agent asking for "GitHub's code" never gets a spoofer's.
func waitTrust(f messageFilter, cfg *mailgentConfig) string {
	if f.trustSet {
		return f.trust
	}
	if f.fromDomain != "" && cfg.RequireVerifiedSender {
		return mailmsg.TrustVerified
	}
	return ""
}

// awaitMessage waits up to timeout for a matching unread message stored
// since the filter's since (by default: a moment before the call, see
// waitLookback) and delivers it.
func (b *backend) awaitMessage(ctx context.Context, req *logical.Request, st *agentState, f messageFilter, timeout time.Duration) (*logical.Response, error) {
	threshold := f.since
	if threshold.IsZero() {
		threshold = b.now().Add(-waitLookback)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		arrived := b.inboxNotify.channel(st.entry.Name) // before looking: nothing in between is missed
		if err := b.stillActive(ctx, req, st, opMessageWait, ""); err != nil {
			return nil, err
		}
		sum, err := b.firstUnread(ctx, req.Storage, st, f, threshold)
		if err != nil {
			return nil, err
		}
		if sum != nil {
			// Claimed (marked read) or lost to another waiter: look again.
			resp, err := b.deliverMessage(ctx, req, st, sum, opMessageWait, true)
			if err != nil || resp != nil {
				return resp, err
			}
			continue
		}
		select {
		case <-arrived:
		case <-deadline.C:
			return nil, logical.CodedError(http.StatusRequestTimeout, fmt.Sprintf("no matching unread message arrived within %s", timeout))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// firstUnread returns the earliest unread matching message stored at or
// after threshold. It walks the unread messages of the index, not the
// whole inbox.
func (b *backend) firstUnread(ctx context.Context, s logical.Storage, st *agentState, f messageFilter, threshold time.Time) (*inboxSummary, error) {
	unread, err := b.summaries(ctx, s, st, true) // newest first
	if err != nil {
		return nil, err
	}
	var found *inboxSummary
	for _, sum := range unread {
		if timeOfReverse(sum.Key).Before(threshold) {
			break
		}
		if f.match(sum) {
			found = sum // keep going: the earliest match wins
		}
	}
	return found, nil
}

const messageWaitHelp = `
The call an agent makes right after pressing "send me a code": it returns
(and marks read) the first unread message matching from/subject that was
stored after since — by default the moment of the call, but a matching
unread message stored in the last 60 seconds also counts, so an agent that
asks a moment late still gets its code. It waits up to timeout seconds
(default 30, capped by the mount's max_wait_timeout) and answers 408 if
nothing came.
`
