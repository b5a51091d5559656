package plugin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// An agent's inbox in Vault storage. Every entry is sealed with the agent's
// KEK (one DEK per entry, AD binding mount, agent, message and part), so
// revoking the agent makes its mail unreadable in the same single storage
// operation as its credentials.
//
//	inboxrec/<agent>/<key>/0      a message up to about inboxChunk: its
//	                              summary, parsed record (JSON) and raw
//	                              source in one entry (see putBody)
//	inboxrec/<agent>/<key>/<n>    a larger message: the record, in chunks,
//	inboxraw/<agent>/<key>/<n>    and the raw source, in chunks
//	inboxsum/<agent>/<key>        the summary (what listing and filtering
//	                              need), once it differs from the one
//	                              embedded in the body (read, marked
//	                              unread), and always for a larger message
//
// <key> = <reverse nanos>-<msg id>: lexical order is newest first, and it is
// the message ID of the API.
//
// Storing a message is one storage write (a gRPC call into Vault, which
// dominates the cost of inbound mail); a larger one is its chunks and then
// its summary. What would otherwise be more — "is this message ID stored
// already?", the counts agents/:agent reports, the list of messages and
// which are unread (for messages/wait) — comes from an in-memory index (see
// inboxIndex), loaded from storage on first use.
const (
	inboxSumPrefix = "inboxsum/"
	inboxRecPrefix = "inboxrec/"
	inboxRawPrefix = "inboxraw/"
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
	// The sender verdict of the relay that accepted the message (see
	// mailauth.Verdict); read through senderDomain, trust and
	// trustReason (upgrade.go).
	SenderDomain string    `json:"sender_domain,omitempty"`
	Trust        string    `json:"trust,omitempty"`
	TrustReason  string    `json:"trust_reason,omitempty"`
	Code         string    `json:"code,omitempty"` // the best candidate code
	Attachments  int       `json:"attachments"`
	Size         int64     `json:"size"`
	Unread       bool      `json:"unread"`
	ReadAt       time.Time `json:"read_at,omitzero"`
	RecChunks    int       `json:"rec_chunks"`
	RawChunks    int       `json:"raw_chunks"`
	// Combined: record and raw source share entry inboxrec/…/0 (a small
	// message); RecChunks is 1 and RawChunks 0.
	Combined bool `json:"combined,omitempty"`
	// Embedded: that entry holds this summary too (as first stored).
	Embedded bool `json:"embedded,omitempty"`
}

// Caps on the summary fields kept in the index (per message, in memory);
// the full headers stay in the message's record and raw source.
const (
	maxSummaryFrom    = 256
	maxSummarySubject = 512
	maxSummaryAddress = 320
	maxSummaryReason  = 256
)

// newSummary is the summary of a message being stored, its header fields
// truncated so that a flood of huge headers cannot grow the index.
func newSummary(key string, storedAt time.Time, h *mailmsg.Head, size int) *inboxSummary {
	trust := h.Trust
	if trust != mailmsg.TrustVerified {
		trust = mailmsg.TrustUnverified
	}
	return &inboxSummary{
		Key: key, ID: h.ID, StoredAt: storedAt, ReceivedAt: h.ReceivedAt,
		From: mailparse.TruncateUTF8(h.From, maxSummaryFrom), FromAddress: mailparse.TruncateUTF8(h.FromAddress, maxSummaryAddress),
		Subject:      mailparse.TruncateUTF8(h.Subject, maxSummarySubject),
		SenderDomain: mailparse.TruncateUTF8(h.SenderDomain, 253), Trust: trust, TrustReason: mailparse.TruncateUTF8(h.TrustReason, maxSummaryReason),
		Code: mailparse.TruncateUTF8(h.Code, 64), Attachments: h.Attachments, Size: int64(size), Unread: true,
	}
}

func inboxKey(storedAt time.Time, id string) string {
	return reverseTime(storedAt) + "-" + id
}

func (b *backend) inboxLock(agent string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, "inbox/"+agent)
}

// readSummary returns a message's summary: its summary entry, which exists
// once the message was read (or marked unread again) and for a large
// message, or else the summary embedded in its body. nil if there is no
// such message.
func (b *backend) readSummary(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, error) {
	plain, err := getSealed(ctx, s, st.kek, inboxSumPrefix+st.entry.Name+"/"+key, inboxAD(b.mountID, st.entry.Name, key, "summary"))
	if err != nil {
		return nil, err
	}
	if plain == nil {
		sum, _, _, err := b.readEmbedded(ctx, s, st, key)
		return sum, err
	}
	sum := &inboxSummary{}
	if err := json.Unmarshal(plain, sum); err != nil {
		return nil, fmt.Errorf("decode summary: %w", err)
	}
	return sum, nil
}

// readEmbedded reads a body with its summary embedded (see putBody): the
// summary, the record and the raw source; all nil if there is none.
func (b *backend) readEmbedded(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, []byte, []byte, error) {
	body, err := getSealed(ctx, s, st.kek, inboxRecPrefix+st.entry.Name+"/"+key+"/0", inboxAD(b.mountID, st.entry.Name, key, embeddedPart))
	if err != nil || body == nil {
		return nil, nil, nil, err
	}
	var fields [2][]byte
	for i := range fields {
		n, w := binary.Uvarint(body)
		if w <= 0 || n > uint64(len(body)-w) {
			return nil, nil, nil, fmt.Errorf("message %s: malformed body entry", key)
		}
		fields[i], body = body[w:w+int(n)], body[w+int(n):]
	}
	sum := &inboxSummary{}
	if err := json.Unmarshal(fields[0], sum); err != nil {
		return nil, nil, nil, fmt.Errorf("message %s: decode summary: %w", key, err)
	}
	return sum, fields[1], body, nil
}

// embeddedPart is the AD part of a body with its summary embedded.
const embeddedPart = "message/0"

func (b *backend) writeSummary(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) error {
	plain, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	return putSealed(ctx, s, st.kek, inboxSumPrefix+st.entry.Name+"/"+sum.Key, inboxAD(b.mountID, st.entry.Name, sum.Key, "summary"), plain)
}

// putChunks seals data in inboxChunk pieces under prefix/<n>.
func (b *backend) putChunks(ctx context.Context, s logical.Storage, st *agentState, prefix, key, part string, data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data) || n == 0; off += inboxChunk {
		end := min(off+inboxChunk, len(data))
		idx := strconv.Itoa(n)
		if err := putSealed(ctx, s, st.kek, prefix+st.entry.Name+"/"+key+"/"+idx, inboxAD(b.mountID, st.entry.Name, key, part+"/"+idx), data[off:end]); err != nil {
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
		plain, err := getSealed(ctx, s, st.kek, prefix+st.entry.Name+"/"+key+"/"+idx, inboxAD(b.mountID, st.entry.Name, key, part+"/"+idx))
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

// storeMessage puts one inbound message in the agent's inbox. It is
// idempotent: a redelivered message (same ID) is stored once, and a store
// that was cut short resumes under the same key. It returns the summary
// and whether the message is new. rec is the whole message as JSON (the
// record), msg its head.
func (b *backend) storeMessage(ctx context.Context, s logical.Storage, st *agentState, msg *mailmsg.Head, rec, raw []byte, cfg *mailgentConfig) (*inboxSummary, bool, error) {
	agent := st.entry.Name
	// One message at a time per ID (a redelivery racing the first
	// delivery); different messages of one agent store in parallel, and
	// serialise only on the index below.
	// (A lock set of its own: a bucket shared with the inbox lock taken
	// below would deadlock.)
	msgLock := locksutil.LockForKey(b.msgLocks, agent+"/"+msg.ID)
	msgLock.Lock()
	defer msgLock.Unlock()

	lock := b.inboxLock(agent)
	lock.Lock()
	idx, err := b.inboxIndexLocked(ctx, s, st)
	if err != nil {
		lock.Unlock()
		return nil, false, err
	}
	if key, ok := idx.ids[msg.ID]; ok {
		lock.Unlock()
		return &inboxSummary{Key: key, ID: msg.ID}, false, nil // already stored
	}
	// A store cut short (an error, then the redelivery) resumes its key, so
	// the first attempt's entries are overwritten, not left behind. (After
	// a crash, the retention sweep removes such leftovers.)
	key, resuming := idx.pending[msg.ID]
	now := b.now().UTC()
	if resuming {
		now = timeOfReverse(key).UTC()
	} else {
		if err := b.makeRoomLocked(ctx, s, st, idx, int64(len(raw)), cfg); err != nil {
			lock.Unlock()
			return nil, false, err
		}
		key = inboxKey(now, msg.ID)
		idx.pending[msg.ID] = key
		idx.pendingBytes[msg.ID] = int64(len(raw))
	}
	lock.Unlock()

	sum := newSummary(key, now, msg, len(raw))
	// A small message is one storage write, its summary embedded; it is
	// visible once that write is done. A large one is body chunks, then the
	// summary: visible once complete. The inbox lock makes what readers see
	// and the index change together (markRead, delete and the sweep take it
	// too).
	if err := b.putBody(ctx, s, st, sum, rec, raw); err != nil {
		return nil, false, err
	}
	lock.Lock()
	defer lock.Unlock()
	if !sum.Embedded {
		if err := b.writeSummary(ctx, s, st, sum); err != nil {
			return nil, false, err
		}
	}
	// The index may have been dropped meanwhile (Invalidate on a standby,
	// Clean): reload it, which finds this message.
	if idx, err = b.inboxIndexLocked(ctx, s, st); err != nil {
		return nil, false, err
	}
	delete(idx.pending, msg.ID)
	delete(idx.pendingBytes, msg.ID)
	if _, ok := idx.ids[msg.ID]; !ok {
		idx.add(sum)
	}
	b.inboxNotify.notify(agent)
	return sum, true, nil
}

// putBody writes a message's record and raw source. A small message is one
// entry that holds its summary too:
//
//	uvarint len(summary JSON) | summary JSON | uvarint len(record) | record | raw source
//
// (AD part embeddedPart); a large one is chunks of each, and its summary is
// written by the caller. It sets the summary's layout fields.
func (b *backend) putBody(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary, rec, raw []byte) error {
	if len(rec)+len(raw)+2*binary.MaxVarintLen64+1024 <= inboxChunk {
		sum.RecChunks, sum.RawChunks, sum.Combined, sum.Embedded = 1, 0, true, true
		sj, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		if len(sj)+len(rec)+len(raw)+2*binary.MaxVarintLen64 <= inboxChunk {
			body := make([]byte, 0, 2*binary.MaxVarintLen64+len(sj)+len(rec)+len(raw))
			body = binary.AppendUvarint(body, uint64(len(sj)))
			body = append(body, sj...)
			body = binary.AppendUvarint(body, uint64(len(rec)))
			body = append(append(body, rec...), raw...)
			return putSealed(ctx, s, st.kek, inboxRecPrefix+st.entry.Name+"/"+sum.Key+"/0", inboxAD(b.mountID, st.entry.Name, sum.Key, embeddedPart), body)
		}
		sum.Combined, sum.Embedded = false, false // a long subject: chunks after all
	}
	var err error
	if sum.RecChunks, err = b.putChunks(ctx, s, st, inboxRecPrefix, sum.Key, "record", rec); err != nil {
		return err
	}
	sum.RawChunks, err = b.putChunks(ctx, s, st, inboxRawPrefix, sum.Key, "raw", raw)
	return err
}

// readBody returns a message's record (JSON) and, when withRaw, its raw
// source.
func (b *backend) readBody(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary, withRaw bool) (rec, raw []byte, err error) {
	if sum.Embedded {
		_, rec, raw, err := b.readEmbedded(ctx, s, st, sum.Key)
		if err == nil && rec == nil {
			err = fmt.Errorf("message %s: its body is missing", sum.Key)
		}
		return rec, raw, err
	}
	if rec, err = b.getChunks(ctx, s, st, inboxRecPrefix, sum.Key, "record", sum.RecChunks); err != nil {
		return nil, nil, err
	}
	if withRaw {
		raw, err = b.getChunks(ctx, s, st, inboxRawPrefix, sum.Key, "raw", sum.RawChunks)
	}
	return rec, raw, err
}

// inboxIndex is what a node keeps in memory of an agent's inbox so that
// storing a message needs no reads, and listing, filtering, reading and
// messages/wait need no storage reads for summaries: the stored message IDs
// (for deduplication and the total), every message's summary (a few
// hundred bytes each), and the unread keys. It is loaded from storage on first use — a List of summaries and of
// bodies, and a read of each message's summary entry or, where it has none
// (a small message not yet read), of its body — once per agent per active
// term (measured: 1.2–1.6 s for an inbox of 5,000 unread 4 KiB messages on
// the 2-core dev machine; larger unread messages take longer, up to a
// 256 KiB read each; max_inbox_messages bounds the count). It is changed
// only under the agent's inbox lock together with storage, and dropped when
// another node changes the inbox (Invalidate) or on Clean.
type inboxIndex struct {
	ids     map[string]string        // message ID → key, of every message
	sums    map[string]*inboxSummary // key → summary; replaced, never changed in place
	unread  map[string]bool          // keys of unread messages
	pending map[string]string        // message ID → key of a store in progress
	// bytes is the raw size of every message; pendingBytes that of each
	// store in progress (both count against max_inbox_bytes).
	bytes        int64
	pendingBytes map[string]int64
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

// inboxIndexLocked returns the agent's index, loading it if needed. The
// caller holds the agent's inbox lock.
func (b *backend) inboxIndexLocked(ctx context.Context, s logical.Storage, st *agentState) (*inboxIndex, error) {
	agent := st.entry.Name
	if idx := b.inboxIdx.get(agent); idx != nil {
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
	b.inboxIdx.putAt(agent, idx, epoch)
	return idx, nil
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

// deleteMessageLocked removes one message; the caller holds the inbox lock.
func (b *backend) deleteMessageLocked(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) error {
	agent := st.entry.Name
	idx, err := b.inboxIndexLocked(ctx, s, st)
	if err != nil {
		return err
	}
	if err := s.Delete(ctx, inboxSumPrefix+agent+"/"+sum.Key); err != nil {
		return err
	}
	idx.remove(sum)
	// The summary names every entry of the body: no List needed.
	for p, n := range map[string]int{inboxRecPrefix: sum.RecChunks, inboxRawPrefix: sum.RawChunks} {
		for i := range n {
			if err := s.Delete(ctx, p+agent+"/"+sum.Key+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// trimInboxLocked deletes the oldest messages beyond keep, and any stored
// before olderThan (when set). The caller holds the inbox lock.
func (b *backend) trimInboxLocked(ctx context.Context, s logical.Storage, st *agentState, keep int, olderThan time.Time) error {
	idx, err := b.inboxIndexLocked(ctx, s, st)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(idx.ids))
	for _, k := range idx.ids {
		keys = append(keys, k)
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
		sum := idx.summary(k)
		if sum == nil {
			continue
		}
		if err := b.deleteMessageLocked(ctx, s, st, sum); err != nil {
			return err
		}
	}
	return nil
}

// errInboxFull defers a message: the agent's inbox is at its limits and
// holds only mail an agent may still be waiting for. JetStream keeps the
// message and delivers it again; nothing is lost, nothing is evicted.
var errInboxFull = errors.New("inbox full: every message in it is unread and younger than max_wait_timeout")

// makeRoomLocked makes the inbox fit one more message of size bytes within
// max_inbox_messages and max_inbox_bytes, deleting the oldest messages
// first — but never an unread one younger than max_wait_timeout, which an
// agent's messages/wait may be about to return: a flood cannot evict the
// code. It counts stores in progress. The caller holds the inbox lock.
func (b *backend) makeRoomLocked(ctx context.Context, s logical.Storage, st *agentState, idx *inboxIndex, size int64, cfg *mailgentConfig) error {
	if cfg == nil {
		return nil
	}
	count, bytes := len(idx.ids)+len(idx.pending)+1, idx.bytes+size
	for _, n := range idx.pendingBytes {
		bytes += n
	}
	fits := func() bool {
		// A message bigger than the whole quota still fits an empty inbox.
		return count <= cfg.MaxInboxMessages && (bytes <= cfg.MaxInboxBytes || count == 1)
	}
	if fits() {
		return nil
	}
	keys := make([]string, 0, len(idx.sums))
	for k := range idx.sums {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys))) // oldest first
	// Choose first, delete after: a store that must be deferred anyway
	// removes nothing.
	protectFrom := b.now().Add(-cfg.MaxWaitTimeout)
	var victims []*inboxSummary
	for _, k := range keys {
		if fits() {
			break
		}
		sum := idx.summary(k)
		if sum == nil || (sum.Unread && !sum.StoredAt.Before(protectFrom)) {
			continue
		}
		victims = append(victims, sum)
		count, bytes = count-1, bytes-sum.Size
	}
	if !fits() {
		return errInboxFull
	}
	for _, sum := range victims {
		if err := b.deleteMessageLocked(ctx, s, st, sum); err != nil {
			return err
		}
	}
	return nil
}

// sweepLeftoverBodies deletes bodies that are no message — the chunks of a
// large message whose store a crash cut short (before its summary) and
// that resumed under a new key — once they are an hour old: whatever the
// index does not know. The caller holds the inbox lock.
func (b *backend) sweepLeftoverBodies(ctx context.Context, s logical.Storage, st *agentState) error {
	agent := st.entry.Name
	idx, err := b.inboxIndexLocked(ctx, s, st)
	if err != nil {
		return err
	}
	inProgress := map[string]bool{}
	for _, k := range idx.pending {
		inProgress[k] = true
	}
	cutoff := reverseTime(b.now().Add(-time.Hour))
	for _, p := range []string{inboxRecPrefix, inboxRawPrefix} {
		dirs, err := s.List(ctx, p+agent+"/")
		if err != nil {
			return err
		}
		for _, d := range dirs {
			k := strings.TrimSuffix(d, "/")
			if len(k) <= 20 || idx.ids[k[20:]] == k || inProgress[k] || k[:19] <= cutoff {
				continue
			}
			n, err := deleteTree(ctx, s, p+agent+"/"+d)
			if err != nil {
				return err
			}
			b.logger.Info("removed the leftover of an interrupted store", "agent", agent, "key", k, "entries", n)
		}
	}
	return nil
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

// agentFromInboxKey returns the agent of an inbox storage key, for Invalidate.
func agentFromInboxKey(key string) string {
	rest, ok := strings.CutPrefix(key, inboxSumPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(key, inboxRecPrefix); !ok {
			return ""
		}
	}
	agent, _, _ := strings.Cut(rest, "/")
	return agent
}
