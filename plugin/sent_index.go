package plugin

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// The in-memory index of each agent's sent mail, for threads: what
// grouping needs of every sent record, so that listing threads reads no
// sent record from storage once the index is loaded. It is loaded on first
// use (a List and a read of each record, once per agent per active term),
// kept up to date by writeSent and the retention sweep, and dropped when
// another node changes a record (Invalidate) or on Clean.

// sentEntry is what threads need of a sent record.
type sentEntry struct {
	ID, MessageID, InReplyTo, Subject, Status string
	References                                []string
	To, Cc                                    []string
	QueuedAt                                  time.Time
}

func newSentEntry(r *sentRecord) *sentEntry {
	return &sentEntry{ID: r.ID, MessageID: threadID(r.MessageID), InReplyTo: r.InReplyTo, Subject: r.Subject, Status: r.Status,
		References: r.References, To: r.To, Cc: r.Cc, QueuedAt: r.QueuedAt}
}

// sentIndex is one agent's sent mail by ID.
type sentIndex struct {
	mu sync.Mutex
	m  map[string]*sentEntry
}

// sentIndexes holds the loaded indexes, by agent.
type sentIndexes struct {
	lockedMap[*sentIndex]
}

// changed records a written (rec) or deleted (nil) sent record in the
// agent's index, if loaded. Either way it counts as a drop for a load in
// progress, which may have listed the records before this one changed.
func (x *sentIndexes) changed(agent, id string, rec *sentRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.epoch++
	idx := x.m[agent]
	if idx == nil {
		return
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if rec == nil {
		delete(idx.m, id)
		return
	}
	idx.m[id] = newSentEntry(rec)
}

// sentEntries returns what the agent sent, from its index, loading it if
// needed.
func (b *backend) sentEntries(ctx context.Context, s logical.Storage, st *agentState) ([]*sentEntry, error) {
	agent := st.entry.Name
	idx := b.sentIdx.get(agent)
	if idx == nil {
		epoch := b.sentIdx.currentEpoch()
		keys, err := s.List(ctx, sentPrefix+agent+"/")
		if err != nil {
			return nil, err
		}
		idx = &sentIndex{m: make(map[string]*sentEntry, len(keys))}
		for _, k := range keys {
			rec, err := b.readSent(ctx, s, st, k)
			if err != nil {
				return nil, err
			}
			if rec != nil {
				idx.m[k] = newSentEntry(rec)
			}
		}
		b.sentIdx.putAt(agent, idx, epoch)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	out := make([]*sentEntry, 0, len(idx.m))
	for _, e := range idx.m {
		out = append(out, e)
	}
	return out, nil
}

// agentOfSentKey is the agent of a sent/<agent>/<id> storage key.
func agentOfSentKey(key string) string {
	agent, _, _ := strings.Cut(strings.TrimPrefix(key, sentPrefix), "/")
	return agent
}
