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
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/frame"
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
	// The threading headers (threads.go), bounded by threadIDs; empty
	// for mail stored before they were kept.
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`
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
		MessageID: threadID(h.MessageID), InReplyTo: threadID(h.InReplyTo), References: threadIDs(h.References),
	}
}

func inboxKey(storedAt time.Time, id string) string {
	return reverseTime(storedAt) + "-" + id
}

func (b *backend) inboxLock(agent string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, "inbox/"+agent)
}

// inboxEntry is one sealed entry of a message: where it is stored and the
// additional data it is sealed with.
type inboxEntry struct {
	key string
	ad  []byte
}

// summaryEntry is a message's summary entry, inboxsum/<agent>/<key>.
func (b *backend) summaryEntry(st *agentState, key string) inboxEntry {
	agent := st.entry.Name
	return inboxEntry{inboxSumPrefix + agent + "/" + key, inboxAD(b.mountID, agent, key, "summary")}
}

// chunkEntry is chunk i of a message's record ("record", under
// inboxRecPrefix), raw source ("raw", inboxRawPrefix) or embedded body
// ("message", inboxRecPrefix, i 0): <prefix><agent>/<key>/<i>.
func (b *backend) chunkEntry(st *agentState, prefix, key, part string, i int) inboxEntry {
	agent, n := st.entry.Name, strconv.Itoa(i)
	return inboxEntry{prefix + agent + "/" + key + "/" + n, inboxAD(b.mountID, agent, key, part+"/"+n)}
}

// embeddedPart names a body with its summary embedded (see putBody).
const embeddedPart = "message"

func (e inboxEntry) put(ctx context.Context, s logical.Storage, st *agentState, plain []byte) error {
	return putSealed(ctx, s, st.kek, e.key, e.ad, plain)
}

func (e inboxEntry) get(ctx context.Context, s logical.Storage, st *agentState) ([]byte, error) {
	return getSealed(ctx, s, st.kek, e.key, e.ad)
}

// readSummary returns a message's summary: its summary entry, which exists
// once the message was read (or marked unread again) and for a large
// message, or else the summary embedded in its body. nil if there is no
// such message.
func (b *backend) readSummary(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, error) {
	plain, err := b.summaryEntry(st, key).get(ctx, s, st)
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
	body, err := b.chunkEntry(st, inboxRecPrefix, key, embeddedPart, 0).get(ctx, s, st)
	if err != nil || body == nil {
		return nil, nil, nil, err
	}
	fields, raw, err := frame.Split(body, 2)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("message %s: malformed body entry", key)
	}
	sum := &inboxSummary{}
	if err := json.Unmarshal(fields[0], sum); err != nil {
		return nil, nil, nil, fmt.Errorf("message %s: decode summary: %w", key, err)
	}
	return sum, fields[1], raw, nil
}

func (b *backend) writeSummary(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) error {
	plain, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	return b.summaryEntry(st, sum.Key).put(ctx, s, st, plain)
}

// putChunks seals data in inboxChunk pieces under prefix and reports how
// many it wrote (at least one).
func (b *backend) putChunks(ctx context.Context, s logical.Storage, st *agentState, prefix, key, part string, data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data) || n == 0; off += inboxChunk {
		end := min(off+inboxChunk, len(data))
		if err := b.chunkEntry(st, prefix, key, part, n).put(ctx, s, st, data[off:end]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (b *backend) getChunks(ctx context.Context, s logical.Storage, st *agentState, prefix, key, part string, n int) ([]byte, error) {
	var out []byte
	for i := 0; i < n; i++ {
		plain, err := b.chunkEntry(st, prefix, key, part, i).get(ctx, s, st)
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
// record), msg its head. The steps:
//
//  1. take the message ID's lock: a redelivery racing the first delivery
//     waits; different messages of one agent store in parallel;
//  2. reserve a key in the index (reserveKey): none if the message is
//     stored already; the key of a store that was cut short; or a new one,
//     once the inbox has room (errInboxFull if it cannot make any);
//  3. write the body (putBody), outside the inbox lock;
//  4. make it visible (commitMessage).
func (b *backend) storeMessage(ctx context.Context, s logical.Storage, st *agentState, msg *mailmsg.Head, rec, raw []byte, cfg *mailgentConfig) (*inboxSummary, bool, error) {
	// A lock set of its own: a bucket shared with the inbox lock taken
	// inside would deadlock.
	msgLock := locksutil.LockForKey(b.msgLocks, st.entry.Name+"/"+msg.ID)
	msgLock.Lock()
	defer msgLock.Unlock()

	key, stored, err := b.reserveKey(ctx, s, st, msg.ID, int64(len(raw)), cfg)
	if err != nil {
		return nil, false, err
	}
	if stored {
		return &inboxSummary{Key: key, ID: msg.ID}, false, nil
	}
	sum := newSummary(key, timeOfReverse(key).UTC(), msg, len(raw))
	if err := b.putBody(ctx, s, st, sum, rec, raw); err != nil {
		return nil, false, err
	}
	if err := b.commitMessage(ctx, s, st, sum); err != nil {
		return nil, false, err
	}
	return sum, true, nil
}

// reserveKey returns the key a message is stored under, and stored when
// it is stored already. A store cut short (an error, then the redelivery)
// resumes its key, so the first attempt's entries are overwritten, not
// left behind; after a crash the retention sweep removes such leftovers
// (sweepLeftoverBodies).
func (b *backend) reserveKey(ctx context.Context, s logical.Storage, st *agentState, id string, size int64, cfg *mailgentConfig) (key string, stored bool, err error) {
	idx, unlock, err := b.lockIndex(ctx, s, st)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if key, ok := idx.ids[id]; ok {
		return key, true, nil
	}
	if key, ok := idx.pending[id]; ok {
		return key, false, nil
	}
	if err := b.makeRoomLocked(ctx, s, st, idx, size, cfg); err != nil {
		return "", false, err
	}
	key = inboxKey(b.now().UTC(), id)
	idx.pending[id], idx.pendingBytes[id] = key, size
	return key, false, nil
}

// commitMessage makes a stored body a message: a large one's summary
// entry is written (a small one's summary is in its body), and the index
// learns of it, together under the inbox lock, so what readers see and the
// index change together (markRead, delete and the sweep take it too).
func (b *backend) commitMessage(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) error {
	lock := b.inboxLock(st.entry.Name)
	lock.Lock()
	defer lock.Unlock()
	if !sum.Embedded {
		if err := b.writeSummary(ctx, s, st, sum); err != nil {
			return err
		}
	}
	// The index may have been dropped meanwhile (Invalidate on a standby,
	// Clean): reload it, which finds this message.
	idx, err := b.inboxIndexLocked(ctx, s, st)
	if err != nil {
		return err
	}
	delete(idx.pending, sum.ID)
	delete(idx.pendingBytes, sum.ID)
	if _, ok := idx.ids[sum.ID]; !ok {
		idx.add(sum)
	}
	b.inboxNotify.notify(st.entry.Name)
	return nil
}

// What a small message's single entry may hold besides its record and raw
// source: the two length prefixes (at most), and room for its summary.
const (
	maxFrameOverhead = 2 * binary.MaxVarintLen64
	summaryRoom      = 1024
)

// putBody writes a message's record and raw source. A small message is one
// entry (chunkEntry part embeddedPart, 0) that holds its summary too:
//
//	uvarint len(summary JSON) | summary JSON | uvarint len(record) | record | raw source
//
// A large one is chunks of each, and its summary is written by the caller.
// It sets the summary's layout fields.
func (b *backend) putBody(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary, rec, raw []byte) error {
	if len(rec)+len(raw)+maxFrameOverhead+summaryRoom <= inboxChunk {
		sum.RecChunks, sum.RawChunks, sum.Combined, sum.Embedded = 1, 0, true, true
		sj, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		if len(sj)+len(rec)+len(raw)+maxFrameOverhead <= inboxChunk {
			body := make([]byte, 0, frame.Size(sj, rec)+len(raw))
			body = append(frame.Append(body, sj, rec), raw...)
			return b.chunkEntry(st, inboxRecPrefix, sum.Key, embeddedPart, 0).put(ctx, s, st, body)
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

// readRecord returns the parsed message.
func (b *backend) readRecord(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) (*mailmsg.Message, error) {
	plain, _, err := b.readBody(ctx, s, st, sum, false)
	if err != nil {
		return nil, err
	}
	msg := &mailmsg.Message{}
	if err := json.Unmarshal(plain, msg); err != nil {
		return nil, fmt.Errorf("decode message %s: %w", sum.Key, err)
	}
	return msg, nil
}

// markRead marks a message read, keeping the counts exact. It reports
// false when the message was already read (or is gone).
func (b *backend) markRead(ctx context.Context, s logical.Storage, st *agentState, key string) (*inboxSummary, bool, error) {
	return b.setUnread(ctx, s, st, key, false)
}

// markUnread undoes markRead.
func (b *backend) markUnread(ctx context.Context, s logical.Storage, st *agentState, key string) error {
	_, _, err := b.setUnread(ctx, s, st, key, true)
	return err
}

// setUnread marks a message unread or read (then with the time), writing
// its summary entry, and reports whether that changed anything.
func (b *backend) setUnread(ctx context.Context, s logical.Storage, st *agentState, key string, unread bool) (*inboxSummary, bool, error) {
	idx, unlock, err := b.lockIndex(ctx, s, st)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	sum := idx.summary(key)
	if sum == nil || sum.Unread == unread {
		return sum, false, nil
	}
	sum.Unread, sum.ReadAt = unread, time.Time{}
	if !unread {
		sum.ReadAt = b.now().UTC()
	}
	if err := b.writeSummary(ctx, s, st, sum); err != nil {
		return nil, false, err
	}
	idx.add(sum)
	return sum, true, nil
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
