package plugin

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/vault/sdk/logical"
)

// The in-memory index of each agent's inbox, and the notifier that wakes
// the long-polls waiting on an inbox.

// inboxIndex is what a node keeps in memory of an agent's inbox so that
// storing a message needs no reads, and listing, filtering, reading and
// messages/wait need no storage reads for summaries: the stored message
// IDs (for deduplication and the total), every message's summary (a few
// hundred bytes each), and the unread keys.
//
// It is loaded from storage on first use — a List of summaries and of
// bodies, and a read of each message's summary entry or, where it has none
// (a small message not yet read), of its body — once per agent per active
// term; max_inbox_messages bounds how long that takes (docs/benchmarks.md
// has a measurement). It is changed only under the agent's inbox lock
// together with storage, and dropped when another node changes the inbox
// (Invalidate) or on Clean.
type inboxIndex struct {
	ids     map[string]string        // message ID → key, of every message
	sums    map[string]*inboxSummary // key → summary; replaced, never changed in place
	unread  map[string]bool          // keys of unread messages
	pending map[string]string        // message ID → key of a store in progress
	// bytes is the raw size of every message; pendingBytes that of each
	// store in progress (both count against max_inbox_bytes).
	bytes        int64
	pendingBytes map[string]int64
	// used is when the index was last used (Unix nanoseconds), for
	// evictInboxes.
	used atomic.Int64
}

func newInboxIndex(n int) *inboxIndex {
	return &inboxIndex{ids: make(map[string]string, n), sums: make(map[string]*inboxSummary, n),
		unread: map[string]bool{}, pending: map[string]string{}, pendingBytes: map[string]int64{}}
}

// add records a stored (or changed) message.
func (x *inboxIndex) add(sum *inboxSummary) {
	cp := *sum
	if old, ok := x.sums[sum.Key]; ok {
		x.bytes -= old.Size
	}
	x.bytes += sum.Size
	x.ids[sum.ID] = sum.Key
	x.sums[sum.Key] = &cp
	if sum.Unread {
		x.unread[sum.Key] = true
	} else {
		delete(x.unread, sum.Key)
	}
}

// remove forgets a deleted message.
func (x *inboxIndex) remove(sum *inboxSummary) {
	if old, ok := x.sums[sum.Key]; ok {
		x.bytes -= old.Size
	}
	delete(x.ids, sum.ID)
	delete(x.sums, sum.Key)
	delete(x.unread, sum.Key)
}

// summary returns a copy of a message's summary, nil if there is none.
func (x *inboxIndex) summary(key string) *inboxSummary {
	sum, ok := x.sums[key]
	if !ok {
		return nil
	}
	cp := *sum
	return &cp
}

// inboxIndexes holds the loaded indexes, by agent.
type inboxIndexes = lockedMap[*inboxIndex]

// indexSizes counts the loaded indexes and the messages they hold (for
// the metrics), each index under its agent's inbox lock.
func (b *backend) indexSizes() (agents, messages int) {
	b.inboxIdx.mu.RLock()
	names := make([]string, 0, len(b.inboxIdx.m))
	for name := range b.inboxIdx.m {
		names = append(names, name)
	}
	b.inboxIdx.mu.RUnlock()
	for _, name := range names {
		lock := b.inboxLock(name)
		lock.Lock()
		if idx := b.inboxIdx.get(name); idx != nil {
			agents, messages = agents+1, messages+len(idx.ids)
		}
		lock.Unlock()
	}
	return agents, messages
}

// inboxIndexLocked returns the agent's index, loading it if needed. The
// caller holds the agent's inbox lock.
func (b *backend) inboxIndexLocked(ctx context.Context, s logical.Storage, st *agentState) (*inboxIndex, error) {
	agent := st.entry.Name
	if idx := b.inboxIdx.get(agent); idx != nil {
		idx.used.Store(b.now().UnixNano())
		return idx, nil
	}
	epoch := b.inboxIdx.currentEpoch()
	keys, err := inboxKeys(ctx, s, agent)
	if err != nil {
		return nil, err
	}
	idx := newInboxIndex(len(keys))
	for k, hasSummary := range keys {
		var sum *inboxSummary
		if hasSummary {
			sum, err = b.readSummary(ctx, s, st, k)
		} else {
			// A body without a summary entry: a message with its
			// summary embedded, or what an interrupted store of a large
			// message left (not a message; the sweep removes it).
			if sum, _, _, err = b.readEmbedded(ctx, s, st, k); errors.Is(err, ErrDoesNotOpen) {
				sum, err = nil, nil
			}
		}
		if err != nil {
			return nil, err
		}
		if sum == nil {
			continue // deleted meanwhile, or not a message
		}
		idx.add(sum)
	}
	idx.used.Store(b.now().UnixNano())
	b.inboxIdx.putAt(agent, idx, epoch)
	b.evictInboxes(ctx, s, agent)
	return idx, nil
}

// evictInboxes drops the least recently used inbox indexes while more
// than max_loaded_inboxes are loaded, down to nine tenths of it (so a run
// of new inboxes does not sort the map on every load): the bound on index
// memory. An index whose inbox lock is held, or with a store in progress,
// stays; keep is the agent whose lock the caller holds. An evicted index
// is loaded again on its next use.
func (b *backend) evictInboxes(ctx context.Context, s logical.Storage, keep string) {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg == nil || b.inboxIdx.size() <= cfg.loadedInboxes() {
		return
	}
	type use struct {
		agent string
		at    int64
	}
	b.inboxIdx.mu.RLock()
	all := make([]use, 0, len(b.inboxIdx.m))
	for agent, idx := range b.inboxIdx.m {
		all = append(all, use{agent, idx.used.Load()})
	}
	b.inboxIdx.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].at < all[j].at })
	excess := len(all) - cfg.loadedInboxes()*9/10
	for _, u := range all {
		if excess <= 0 {
			break
		}
		lock := b.inboxLock(u.agent)
		if u.agent == keep || !lock.TryLock() {
			continue // in use; the caller's own, or one sharing its lock
		}
		if idx := b.inboxIdx.get(u.agent); idx != nil && len(idx.pending) == 0 {
			b.inboxIdx.evict(u.agent)
			b.metrics.evicted.Inc()
			excess--
		}
		lock.Unlock()
	}
}

// inboxKeys lists the keys of an agent's messages: those with a summary
// entry (true) and bodies without one (false) — a message with its summary
// embedded, or the leftover of an interrupted store.
func inboxKeys(ctx context.Context, s logical.Storage, agent string) (map[string]bool, error) {
	sums, err := s.List(ctx, inboxSumPrefix+agent+"/")
	if err != nil {
		return nil, err
	}
	bodies, err := s.List(ctx, inboxRecPrefix+agent+"/")
	if err != nil {
		return nil, err
	}
	keys := make(map[string]bool, len(bodies))
	for _, d := range bodies {
		keys[strings.TrimSuffix(d, "/")] = false
	}
	for _, k := range sums {
		keys[k] = true
	}
	return keys, nil
}

// summaries returns copies of the summaries of the agent's messages,
// newest first (only the unread ones with unreadOnly), from the index.
func (b *backend) summaries(ctx context.Context, s logical.Storage, st *agentState, unreadOnly bool) ([]*inboxSummary, error) {
	idx, unlock, err := b.lockIndex(ctx, s, st)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]*inboxSummary, 0, len(idx.sums))
	for k, sum := range idx.sums {
		if unreadOnly && !idx.unread[k] {
			continue
		}
		cp := *sum
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// summary returns a message's summary from the index; nil if there is no
// such message.
func (b *backend) summary(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, error) {
	idx, unlock, err := b.lockIndex(ctx, s, st)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return idx.summary(key), nil
}

// lockIndex takes the agent's inbox lock and returns the agent's index;
// the caller releases the lock with unlock.
func (b *backend) lockIndex(ctx context.Context, s logical.Storage, st *agentState) (idx *inboxIndex, unlock func(), err error) {
	lock := b.inboxLock(st.entry.Name)
	lock.Lock()
	if idx, err = b.inboxIndexLocked(ctx, s, st); err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return idx, lock.Unlock, nil
}

// inboxCounts returns the agent's message counts, exact.
func (b *backend) inboxCounts(ctx context.Context, s logical.Storage, st *agentState) (total, unread int, err error) {
	idx, unlock, err := b.lockIndex(ctx, s, st)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	return len(idx.ids), len(idx.unread), nil
}

// inboxNotifier wakes the long-polls of one agent: messages/wait callers
// when mail for it is stored on this node (or, on a standby, when
// Invalidate sees it), and those and TOTP min_remaining waits when it is
// revoked.
type inboxNotifier struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newInboxNotifier() *inboxNotifier { return &inboxNotifier{ch: map[string]chan struct{}{}} }

// channel returns the channel closed at the agent's next new message. Take
// it before looking at storage, so nothing arriving in between is missed.
func (n *inboxNotifier) channel(agent string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.ch[agent]
	if !ok {
		c = make(chan struct{})
		n.ch[agent] = c
	}
	return c
}

func (n *inboxNotifier) notify(agent string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.ch[agent]; ok {
		close(c)
		delete(n.ch, agent)
	}
}
