package plugin

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// Fresh TOTP codes. A site refuses a code it has seen (RFC 6238 §5.2), so
// an agent that enrols and logs in within one time step must not be handed
// the same code twice. Every code handed out is recorded as the end of its
// time step, per credential, in storage (so it holds across nodes and
// restarts):
//
//	totplast/<agent>/<cred>   totpLast
//
// A plain code request records its step only when it is later than the
// one recorded (once a period per credential at most: the node remembers
// what it last read or wrote). creds/:cred/totp?fresh=true returns the
// code of a step that starts at or after the recorded end, waiting for it
// when needed.
const totpLastPrefix = "totplast/"

func totpLastKey(agent, cred string) string { return totpLastPrefix + agent + "/" + cred }

// totpLast is the newest time step a credential's code was handed out for.
type totpLast struct {
	// ValidUntil is when that step ended (Unix seconds): the earliest a
	// fresh code's step may start.
	ValidUntil int64 `json:"valid_until"`
}

// totpLastCache holds, by agent/cred, the ValidUntil this node last read
// or wrote: a lower bound of what storage holds (0: not known).
type totpLastCache = lockedMap[int64]

// totpLastLock serialises the read-modify-write of one totplast entry. It
// is never taken with another lock of b.locks held (the buckets are
// shared).
func (b *backend) totpLastLock(agent, cred string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, totpLastKey(agent, cred))
}

// readTOTPLast reads the recorded end of the last step handed out (0 when
// none), from storage.
func readTOTPLast(ctx context.Context, s logical.Storage, agent, cred string) (int64, error) {
	e, err := getJSON[totpLast](ctx, s, totpLastKey(agent, cred))
	if err != nil || e == nil {
		return 0, err
	}
	return e.ValidUntil, nil
}

// noteHandedOut records that a code valid until until was handed out,
// unless a step as late is known to be recorded already: the common case,
// which costs a map read.
func (b *backend) noteHandedOut(ctx context.Context, s logical.Storage, agent, cred string, until time.Time) error {
	key, u := credCacheKey(agent, cred), until.Unix()
	if b.totpLast.get(key) >= u {
		return nil
	}
	lock := b.totpLastLock(agent, cred)
	lock.Lock()
	defer lock.Unlock()
	epoch := b.totpLast.currentEpoch()
	last, err := readTOTPLast(ctx, s, agent, cred)
	if err != nil {
		return err
	}
	if last < u {
		if err := putJSON(ctx, s, totpLastKey(agent, cred), &totpLast{ValidUntil: u}); err != nil {
			return err
		}
		last = u
	}
	b.totpLast.putAt(key, last, epoch)
	return nil
}

// freshCode returns a code of a time step that starts at or after the end
// of every step handed out before, with at least minRemaining seconds
// left, and records it. It waits when the current step is not fresh (at
// most a period, unless another fresh request takes the next step first),
// cut short by the client or a revocation (waitFor).
func (b *backend) freshCode(ctx context.Context, req *logical.Request, st *agentState, cred string, t *totpSecret, minRemaining int) (totpCode, error) {
	var reached time.Time // the step boundary a wait has reached
	for {
		code, wait, err := b.tryFreshCode(ctx, req.Storage, st.entry.Name, cred, t, minRemaining, reached)
		if err != nil || wait.IsZero() {
			return code, err
		}
		if err := b.waitFor(ctx, req, st, cred, wait.Sub(b.now())); err != nil {
			return totpCode{}, err
		}
		reached = wait
	}
}

// tryFreshCode, under the credential's totplast lock, hands out and
// records the current step's code when it is fresh and has minRemaining
// seconds left; otherwise it returns the time to wait for. reached is a
// floor for the clock: the boundary a completed wait was for (its timer
// may fire a little before b.now() shows it).
func (b *backend) tryFreshCode(ctx context.Context, s logical.Storage, agent, cred string, t *totpSecret, minRemaining int, reached time.Time) (totpCode, time.Time, error) {
	lock := b.totpLastLock(agent, cred)
	lock.Lock()
	defer lock.Unlock()
	epoch := b.totpLast.currentEpoch()
	last, err := readTOTPLast(ctx, s, agent, cred)
	if err != nil {
		return totpCode{}, time.Time{}, err
	}
	now := b.now()
	if now.Before(reached) {
		now = reached
	}
	code, err := t.generate(now)
	if err != nil {
		return totpCode{}, time.Time{}, err
	}
	period := int64(t.Period)
	if start := code.ValidUntil.Unix() - period; start < last {
		// The first step that starts at or after last.
		return totpCode{}, time.Unix((last+period-1)/period*period, 0), nil
	}
	if code.SecondsRemaining < minRemaining {
		return totpCode{}, code.ValidUntil, nil
	}
	if err := putJSON(ctx, s, totpLastKey(agent, cred), &totpLast{ValidUntil: code.ValidUntil.Unix()}); err != nil {
		return totpCode{}, time.Time{}, err
	}
	b.totpLast.putAt(credCacheKey(agent, cred), code.ValidUntil.Unix(), epoch)
	return code, time.Time{}, nil
}

// waitFor waits d, cut short by the client (its error) or a revocation of
// the agent (410, recorded), and re-checks the agent before returning.
func (b *backend) waitFor(ctx context.Context, req *logical.Request, st *agentState, cred string, d time.Duration) error {
	revoked := b.inboxNotify.channel(st.entry.Name)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-revoked:
			if err := b.stillActive(ctx, req, st, opTOTPGenerate, cred); err != nil {
				return err
			}
			revoked = b.inboxNotify.channel(st.entry.Name) // new mail, not a revocation
		case <-timer.C:
			waiting = false
		}
	}
	return b.stillActive(ctx, req, st, opTOTPGenerate, cred)
}
