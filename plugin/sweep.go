package plugin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// retentionSweepEvery spaces out the retention sweeps (audit events, inbox
// messages, sent records): PeriodicFunc runs about once a minute, and
// retention is counted in hours or days.
const retentionSweepEvery = 10 * time.Minute

// sweepState is when the retention sweeps last ran, and whether a run is
// in progress.
type sweepState struct {
	mu            sync.Mutex
	lastRetention time.Time
	inProgress    bool
}

// The periodic sweeps: what revocation left behind, every run; and every
// retentionSweepEvery, retention of audit events, inbox messages and sent
// records.

// periodic is the backend's PeriodicFunc. It runs on the active node only
// (Vault's rollback manager), one run at a time.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.WriteSafeReplicationState() {
		return nil
	}
	b.sweeps.mu.Lock()
	if b.sweeps.inProgress {
		b.sweeps.mu.Unlock()
		return nil
	}
	b.sweeps.inProgress = true
	retentionDue := b.now().Sub(b.sweeps.lastRetention) >= retentionSweepEvery
	b.sweeps.mu.Unlock()
	defer func() {
		b.sweeps.mu.Lock()
		b.sweeps.inProgress = false
		b.sweeps.mu.Unlock()
	}()

	if err := b.sweepRevoked(ctx, req.Storage); err != nil {
		return err
	}
	if retentionDue {
		start := b.now()
		if err := b.sweepAudit(ctx, req.Storage); err != nil {
			return err
		}
		if err := b.sweepInboxes(ctx, req.Storage); err != nil {
			return err
		}
		if err := b.sweepSent(ctx, req.Storage); err != nil {
			return err
		}
		if err := b.sweepWebhookDeliveries(ctx, req.Storage); err != nil {
			return err
		}
		b.sweeps.mu.Lock()
		b.sweeps.lastRetention = b.now()
		b.sweeps.mu.Unlock()
		b.logger.Info("retention sweep done", "took", b.now().Sub(start).Round(time.Millisecond).String())
	}
	return nil
}

// sweepRevoked deletes the ciphertext of revoked agents — already
// unreadable since their KEK is gone — and marks them swept.
func (b *backend) sweepRevoked(ctx context.Context, s logical.Storage) error {
	names, err := s.List(ctx, agentPrefix)
	if err != nil {
		return err
	}
	for _, name := range names {
		// From the cache: this runs every minute, over every agent.
		st, err := b.loadAgent(ctx, s, name)
		if err != nil {
			return err
		}
		if st == nil || st.entry.Status != statusRevoked || st.entry.Swept {
			continue
		}
		a := *st.entry
		n, err := deleteTree(ctx, s, credVersionPrefix+name+"/")
		if err != nil {
			return err
		}
		m, err := deleteTree(ctx, s, credMetaPrefix+name+"/")
		if err != nil {
			return err
		}
		for _, p := range []string{inboxSumPrefix, inboxRecPrefix, inboxRawPrefix, sentPrefix, sendRatePrefix, totpLastPrefix} {
			k, err := deleteTree(ctx, s, p+name+"/")
			if err != nil {
				return err
			}
			m += k
		}
		k, err := deleteLegacyInbox(ctx, s, name)
		if err != nil {
			return err
		}
		m += k
		if err := b.deleteHooks(ctx, s, hookOwner{subjectAgent, name}); err != nil {
			return err
		}
		b.inboxIdx.drop(name)
		b.sentIdx.drop(name)
		a.Swept = true
		if err := putJSON(ctx, s, agentPrefix+name, &a); err != nil {
			return err
		}
		b.agents.drop(name)
		b.creds.dropAgent(name)
		b.logger.Info("swept revoked agent", "agent", name, "entries", n+m)
	}
	return nil
}

// sweepAudit removes events older than the configured retention.
func (b *backend) sweepAudit(ctx context.Context, s logical.Storage) error {
	cfg, err := b.config(ctx, s)
	if err != nil {
		return err
	}
	retention := defaultAuditRetention
	if cfg != nil {
		retention = cfg.AuditRetention
	}
	cutoff := b.now().Add(-retention)
	for _, kind := range []string{subjectAgent, subjectOrg} {
		names, err := s.List(ctx, auditPrefix+kind+"/")
		if err != nil {
			return err
		}
		for _, name := range names {
			n, err := pruneEvents(ctx, s, kind, strings.TrimSuffix(name, "/"), cutoff)
			if err != nil {
				return fmt.Errorf("prune audit %s/%s: %w", kind, name, err)
			}
			if n > 0 {
				b.logger.Debug("pruned audit events", "subject", kind+"/"+name, "events", n)
			}
		}
	}
	return nil
}

// sweepInboxes enforces message retention (age and count) per agent.
func (b *backend) sweepInboxes(ctx context.Context, s logical.Storage) error {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg == nil {
		return err
	}
	// Agents with mail: those with summary entries or bodies (a small
	// message's summary is in its body).
	names := map[string]bool{}
	for _, p := range []string{inboxSumPrefix, inboxRecPrefix} {
		list, err := s.List(ctx, p)
		if err != nil {
			return err
		}
		for _, n := range list {
			names[strings.TrimSuffix(n, "/")] = true
		}
	}
	cutoff := b.now().Add(-cfg.MessageRetention)
	for agent := range names {
		st, err := b.loadAgent(ctx, s, agent)
		if err != nil {
			return err
		}
		if st == nil || !st.active() {
			continue // the revocation sweep removes it all
		}
		lock := b.inboxLock(agent)
		lock.Lock()
		if b.inboxIdx.get(agent) == nil {
			// Not loaded: load it only if there is something to do, so the
			// sweep does not bring every inbox's index into memory.
			need, nerr := inboxNeedsSweep(ctx, s, agent, cfg.MaxInboxMessages, cutoff, b.now().Add(-time.Hour))
			if nerr != nil || !need {
				lock.Unlock()
				if nerr != nil {
					return fmt.Errorf("inbox retention of %s: %w", agent, nerr)
				}
				continue
			}
		}
		err = b.trimInboxLocked(ctx, s, st, cfg.MaxInboxMessages, cutoff)
		if err == nil {
			err = b.sweepLeftoverBodies(ctx, s, st)
		}
		lock.Unlock()
		if err != nil {
			return fmt.Errorf("inbox retention of %s: %w", agent, err)
		}
	}
	return nil
}

// sweepSent keeps sent-mail records as long as inbox messages
// (message_retention) and drops rate-limit counters of past hours.
func (b *backend) sweepSent(ctx context.Context, s logical.Storage) error {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg == nil {
		return err
	}
	now := b.now().UTC()
	current := now.Format("2006010215")
	agents, err := s.List(ctx, sendRatePrefix)
	if err != nil {
		return err
	}
	for _, a := range agents {
		hours, err := s.List(ctx, sendRatePrefix+a)
		if err != nil {
			return err
		}
		for _, h := range hours {
			if h != current {
				if err := s.Delete(ctx, sendRatePrefix+a+h); err != nil {
					return err
				}
			}
		}
	}
	// Sent keys begin with reverse nanoseconds, like inbox keys.
	cutoff := reverseTime(now.Add(-cfg.MessageRetention))
	agents, err = s.List(ctx, sentPrefix)
	if err != nil {
		return err
	}
	for _, a := range agents {
		keys, err := s.List(ctx, sentPrefix+a)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if len(k) >= 19 && k[:19] > cutoff {
				if err := s.Delete(ctx, sentPrefix+a+k); err != nil {
					return err
				}
				b.sentIdx.changed(strings.TrimSuffix(a, "/"), k, nil)
			}
		}
	}
	return nil
}

// inboxNeedsSweep tells from key listings alone (no reads) whether an
// agent's inbox has anything for the retention sweep: more than keep
// messages, one older than olderThan, or a large message's chunks with no
// summary (an interrupted store, sweepLeftoverBodies) from before
// leftoverBefore. Keys start with the reverse time of the store.
func inboxNeedsSweep(ctx context.Context, s logical.Storage, agent string, keep int, olderThan, leftoverBefore time.Time) (bool, error) {
	keys, err := inboxKeys(ctx, s, agent)
	if err != nil {
		return false, err
	}
	if len(keys) > keep {
		return true, nil
	}
	cutoff := reverseTime(olderThan)
	for k := range keys {
		if len(k) >= 19 && k[:19] > cutoff {
			return true, nil
		}
	}
	raw, err := s.List(ctx, inboxRawPrefix+agent+"/")
	if err != nil {
		return false, err
	}
	leftover := reverseTime(leftoverBefore)
	for _, d := range raw {
		k := strings.TrimSuffix(d, "/")
		if !keys[k] && len(k) >= 19 && k[:19] > leftover {
			return true, nil
		}
	}
	return false, nil
}
