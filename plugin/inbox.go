package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// An agent's inbox in Vault storage. Every entry but the dedup marker is
// sealed with the agent's KEK (one DEK per entry, AD binding mount, agent,
// message and part), so revoking the agent makes its mail unreadable in the
// same single storage operation as its credentials.
//
//	inboxsum/<agent>/<key>        summary: what listing and filtering need
//	inboxrec/<agent>/<key>/<n>    the parsed message (JSON), in chunks
//	inboxraw/<agent>/<key>/<n>    the raw source, in chunks
//	inboxdedup/<agent>/<msg id>   → key (so a redelivery stores nothing twice)
//	inboxstat/<agent>             message counts
//
// <key> = <reverse nanos>-<msg id>: lexical order is newest first, and it is
// the message ID of the API.
const (
	inboxSumPrefix   = "inboxsum/"
	inboxRecPrefix   = "inboxrec/"
	inboxRawPrefix   = "inboxraw/"
	inboxDedupPrefix = "inboxdedup/"
	inboxStatPrefix  = "inboxstat/"
	// inboxUnreadPrefix marks unread messages (an empty entry per key), so
	// messages/wait looks only at unread mail instead of decrypting every
	// summary of the look-back window.
	inboxUnreadPrefix = "inboxunread/"

	// inboxChunk keeps every sealed entry well under Vault's storage entry
	// limit (512 KiB by default with integrated storage), after base64.
	inboxChunk = 256 << 10
)

// inboxSummary is what a listing shows of a message.
type inboxSummary struct {
	Key         string    `json:"key"`
	ID          string    `json:"id"`
	StoredAt    time.Time `json:"stored_at"`
	ReceivedAt  time.Time `json:"received_at"`
	From        string    `json:"from"`
	FromAddress string    `json:"from_address"`
	Subject     string    `json:"subject"`
	Code        string    `json:"code,omitempty"` // the best candidate code
	Attachments int       `json:"attachments"`
	Size        int64     `json:"size"`
	Unread      bool      `json:"unread"`
	ReadAt      time.Time `json:"read_at,omitzero"`
	RecChunks   int       `json:"rec_chunks"`
	RawChunks   int       `json:"raw_chunks"`
}

// inboxStat holds the counts agents/:agent reports; kept exact under the
// agent's inbox lock.
type inboxStat struct {
	Total  int `json:"total"`
	Unread int `json:"unread"`
}

func inboxKey(storedAt time.Time, id string) string {
	return reverseTime(storedAt) + "-" + id
}

func (b *backend) inboxLock(agent string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, "inbox/"+agent)
}

// sealJSON and openJSON put and get one sealed inbox entry.
func (b *backend) sealPut(ctx context.Context, s logical.Storage, kek *agentKEK, key string, ad, plain []byte) error {
	box, err := sealCredential(kek, ad, plain)
	if err != nil {
		return err
	}
	return putJSON(ctx, s, key, box)
}

func (b *backend) openGet(ctx context.Context, s logical.Storage, kek *agentKEK, key string, ad []byte) ([]byte, error) {
	box, err := getJSON[sealed](ctx, s, key)
	if err != nil || box == nil {
		return nil, err
	}
	plain, err := openCredential(kek, ad, box)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return plain, nil
}

func (b *backend) readSummary(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, error) {
	plain, err := b.openGet(ctx, s, st.kek, inboxSumPrefix+st.entry.Name+"/"+key, inboxAD(b.mountID, st.entry.Name, key, "summary"))
	if err != nil || plain == nil {
		return nil, err
	}
	sum := &inboxSummary{}
	if err := json.Unmarshal(plain, sum); err != nil {
		return nil, fmt.Errorf("decode summary: %w", err)
	}
	return sum, nil
}

func (b *backend) writeSummary(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) error {
	plain, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	return b.sealPut(ctx, s, st.kek, inboxSumPrefix+st.entry.Name+"/"+sum.Key, inboxAD(b.mountID, st.entry.Name, sum.Key, "summary"), plain)
}

// putChunks seals data in inboxChunk pieces under prefix/<n>.
func (b *backend) putChunks(ctx context.Context, s logical.Storage, st *agentState, prefix, key, part string, data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data) || n == 0; off += inboxChunk {
		end := min(off+inboxChunk, len(data))
		idx := strconv.Itoa(n)
		if err := b.sealPut(ctx, s, st.kek, prefix+st.entry.Name+"/"+key+"/"+idx, inboxAD(b.mountID, st.entry.Name, key, part+"/"+idx), data[off:end]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (b *backend) getChunks(ctx context.Context, s logical.Storage, st *agentState, prefix, key, part string, n int) ([]byte, error) {
	var out []byte
	for i := 0; i < n; i++ {
		idx := strconv.Itoa(i)
		plain, err := b.openGet(ctx, s, st.kek, prefix+st.entry.Name+"/"+key+"/"+idx, inboxAD(b.mountID, st.entry.Name, key, part+"/"+idx))
		if err != nil {
			return nil, err
		}
		if plain == nil {
			return nil, fmt.Errorf("message %s: %s chunk %d of %d is missing", key, part, i, n)
		}
		out = append(out, plain...)
	}
	return out, nil
}

func (b *backend) readStat(ctx context.Context, s logical.Storage, agent string) (inboxStat, error) {
	st, err := getJSON[inboxStat](ctx, s, inboxStatPrefix+agent)
	if err != nil || st == nil {
		return inboxStat{}, err
	}
	return *st, nil
}

// storeMessage puts one inbound message in the agent's inbox. It is
// idempotent: a redelivered message (same ID) is stored once, and a store
// that was cut short resumes under the same key. It returns the summary
// and whether the message is new.
func (b *backend) storeMessage(ctx context.Context, s logical.Storage, st *agentState, msg *mailmsg.Message, raw []byte, cfg *mailgentConfig) (*inboxSummary, bool, error) {
	agent := st.entry.Name
	// One message at a time per ID (a redelivery racing the first
	// delivery); different messages of one agent store in parallel, and
	// serialise only on the counts below.
	// (A lock set of its own: a bucket shared with the inbox lock taken
	// below would deadlock.)
	msgLock := locksutil.LockForKey(b.msgLocks, agent+"/"+msg.ID)
	msgLock.Lock()
	defer msgLock.Unlock()

	dedupKey := inboxDedupPrefix + agent + "/" + msg.ID
	var key string
	if e, err := s.Get(ctx, dedupKey); err != nil {
		return nil, false, err
	} else if e != nil {
		key = string(e.Value)
		if sum, err := b.readSummary(ctx, s, st, key); err != nil || sum != nil {
			return sum, false, err // already stored (or unreadable: an error)
		}
	}
	now := b.now().UTC()
	if key != "" {
		now = timeOfReverse(key).UTC() // resuming: keep the original time
	} else {
		key = inboxKey(now, msg.ID)
		// The dedup marker first: a retry after a crash resumes this key.
		if err := s.Put(ctx, &logical.StorageEntry{Key: dedupKey, Value: []byte(key)}); err != nil {
			return nil, false, err
		}
	}

	rec, err := json.Marshal(msg)
	if err != nil {
		return nil, false, err
	}
	recChunks, err := b.putChunks(ctx, s, st, inboxRecPrefix, key, "record", rec)
	if err != nil {
		return nil, false, err
	}
	rawChunks, err := b.putChunks(ctx, s, st, inboxRawPrefix, key, "raw", raw)
	if err != nil {
		return nil, false, err
	}
	sum := &inboxSummary{
		Key: key, ID: msg.ID, StoredAt: now, ReceivedAt: msg.ReceivedAt,
		From: msg.From, FromAddress: msg.FromAddress, Subject: msg.Subject,
		Attachments: len(msg.Attachments), Size: int64(len(raw)), Unread: true,
		RecChunks: recChunks, RawChunks: rawChunks,
	}
	if len(msg.Codes) > 0 {
		sum.Code = msg.Codes[0].Code
	}
	// The summary last: a message is visible once it is complete. The
	// inbox lock makes summary, unread mark and counts change together
	// (markRead, delete and the sweep take it too).
	lock := b.inboxLock(agent)
	lock.Lock()
	defer lock.Unlock()
	if err := s.Put(ctx, &logical.StorageEntry{Key: inboxUnreadPrefix + agent + "/" + key}); err != nil {
		return nil, false, err
	}
	if err := b.writeSummary(ctx, s, st, sum); err != nil {
		return nil, false, err
	}
	stat, err := b.readStat(ctx, s, agent)
	if err != nil {
		return nil, false, err
	}
	stat.Total++
	stat.Unread++
	if err := putJSON(ctx, s, inboxStatPrefix+agent, stat); err != nil {
		return nil, false, err
	}
	if cfg != nil && stat.Total > cfg.MaxInboxMessages {
		if err := b.trimInboxLocked(ctx, s, st, cfg.MaxInboxMessages, time.Time{}); err != nil {
			b.logger.Warn("trim inbox", "agent", agent, "error", err)
		}
	}
	b.inboxNotify.notify(agent)
	return sum, true, nil
}

// deleteMessageLocked removes one message; the caller holds the inbox lock.
func (b *backend) deleteMessageLocked(ctx context.Context, s logical.Storage, agent string, sum *inboxSummary) error {
	if err := s.Delete(ctx, inboxSumPrefix+agent+"/"+sum.Key); err != nil {
		return err
	}
	for _, p := range []string{inboxRecPrefix, inboxRawPrefix} {
		if _, err := deleteTree(ctx, s, p+agent+"/"+sum.Key+"/"); err != nil {
			return err
		}
	}
	if err := s.Delete(ctx, inboxDedupPrefix+agent+"/"+sum.ID); err != nil {
		return err
	}
	if err := s.Delete(ctx, inboxUnreadPrefix+agent+"/"+sum.Key); err != nil {
		return err
	}
	stat, err := b.readStat(ctx, s, agent)
	if err != nil {
		return err
	}
	stat.Total = max(stat.Total-1, 0)
	if sum.Unread {
		stat.Unread = max(stat.Unread-1, 0)
	}
	return putJSON(ctx, s, inboxStatPrefix+agent, stat)
}

// trimInboxLocked deletes the oldest messages beyond keep, and any stored
// before olderThan (when set). The caller holds the inbox lock.
func (b *backend) trimInboxLocked(ctx context.Context, s logical.Storage, st *agentState, keep int, olderThan time.Time) error {
	agent := st.entry.Name
	keys, err := s.List(ctx, inboxSumPrefix+agent+"/")
	if err != nil {
		return err
	}
	sort.Strings(keys) // newest first
	cutoff := ""
	if !olderThan.IsZero() {
		cutoff = reverseTime(olderThan)
	}
	for i, k := range keys {
		if i < keep && (cutoff == "" || k[:19] <= cutoff) {
			continue
		}
		sum, err := b.readSummary(ctx, s, st, k)
		if err != nil {
			return err
		}
		if sum == nil {
			continue
		}
		if err := b.deleteMessageLocked(ctx, s, agent, sum); err != nil {
			return err
		}
	}
	return nil
}

// inboxNotifier wakes messages/wait callers when mail for their agent is
// stored on this node (or, on a standby, when Invalidate sees it).
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

// agentFromInboxKey returns the agent of an inbox storage key, for Invalidate.
func agentFromInboxKey(key string) string {
	rest, ok := strings.CutPrefix(key, inboxSumPrefix)
	if !ok {
		return ""
	}
	agent, _, _ := strings.Cut(rest, "/")
	return agent
}
