package plugin

import (
	"context"
	"encoding/json"
	"regexp"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
)

// Sent-mail records: one per message an agent sent, sealed like its inbox,
// kept as long as inbox messages (message_retention), and updated with
// the relays' delivery results.
//
//	sent/<agent>/<key>    sealed sentRecord; <key> = <reverse nanos>-<12 hex>,
//	                      newest first, the API's sent-message ID
const sentPrefix = "sent/"

// sentRecord is one message an agent sent, and what became of it.
type sentRecord struct {
	// ID is the record's key: the API's sent-message ID and the bus's
	// Nats-Msg-Id.
	ID string `json:"id"`
	// MessageID is the Message-ID header, without angle brackets.
	MessageID string `json:"message_id"`
	// To, Cc and Bcc are the bare recipient addresses.
	To  []string `json:"to"`
	Cc  []string `json:"cc"`
	Bcc []string `json:"bcc"`
	// Subject is the subject sent (a derived "Re: …" included).
	Subject string `json:"subject"`
	// Size is the signed message's size in bytes.
	Size int `json:"size"`
	// Attachments counts the attachments.
	Attachments int `json:"attachments"`
	// InReplyTo is the inbox message this answers, if any.
	InReplyTo string `json:"in_reply_to,omitempty"`
	// References are the message IDs of its References header (the last
	// is In-Reply-To's), without angle brackets, bounded by threadIDs:
	// how threads.go links it to the conversation.
	References []string `json:"references,omitempty"`
	// Status is queued, deferred, sent, failed or cancelled.
	Status string `json:"status"`
	// Reply is the smarthost's last reply, or the reason of a failure.
	Reply string `json:"reply,omitempty"`
	// Attempts counts delivery attempts so far.
	Attempts int `json:"attempts"`
	// QueuedAt and UpdatedAt are when it was queued and last changed.
	QueuedAt  time.Time `json:"queued_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (b *backend) writeSent(ctx context.Context, s logical.Storage, st *agentState, rec *sentRecord) error {
	plain, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := putSealed(ctx, s, st.kek, sentPrefix+st.entry.Name+"/"+rec.ID, sentAD(b.mountID, st.entry.Name, rec.ID), plain); err != nil {
		return err
	}
	b.sentIdx.changed(st.entry.Name, rec.ID, rec)
	return nil
}

func (b *backend) readSent(ctx context.Context, s logical.Storage, st *agentState, key string) (*sentRecord, error) {
	plain, err := getSealed(ctx, s, st.kek, sentPrefix+st.entry.Name+"/"+key, sentAD(b.mountID, st.entry.Name, key))
	if err != nil || plain == nil {
		return nil, err
	}
	rec := &sentRecord{}
	return rec, json.Unmarshal(plain, rec)
}

func sentData(agent, from string, r *sentRecord) map[string]interface{} {
	return map[string]interface{}{
		"agent": agent, "id": r.ID, "message_id": r.MessageID, "from": from,
		"to": nonNil(r.To), "cc": nonNil(r.Cc), "bcc": nonNil(r.Bcc), "subject": r.Subject,
		"size": r.Size, "attachments": r.Attachments, "in_reply_to": r.InReplyTo,
		"status": r.Status, "reply": r.Reply, "attempts": r.Attempts,
		"queued_at": r.QueuedAt.Format(time.RFC3339Nano), "updated_at": r.UpdatedAt.Format(time.RFC3339Nano),
	}
}

// sentIDRe is the shape of a sent-mail key: reverse time, then 12 hex digits.
var sentIDRe = regexp.MustCompile(`^[0-9]{19}-[0-9a-f]{12}$`)

// The ranks of delivery statuses: a result is applied only when it ranks
// at least as high as the record's, and a final status stands — a late
// "deferred" never overwrites "sent".
const (
	rankQueued = iota
	rankDeferred
	rankFinal // sent, failed, cancelled
)

func statusRank(status string) int {
	switch status {
	case bus.StatusDeferred:
		return rankDeferred
	case bus.StatusSent, bus.StatusFailed, bus.StatusCancelled:
		return rankFinal
	}
	return rankQueued
}

// applyStatus records a relay's delivery result on the sent message.
func (b *backend) applyStatus(ctx context.Context, s logical.Storage, ds *bus.DeliveryStatus) error {
	b.metrics.statuses.WithLabelValues(ds.Status).Inc()
	st, err := b.loadAgent(ctx, s, ds.Agent)
	if err != nil {
		return err
	}
	if st == nil || !st.active() {
		return nil // revoked: its records are being swept
	}
	lock := locksutil.LockForKey(b.locks, "sent/"+ds.Agent+"/"+ds.ID)
	lock.Lock()
	defer lock.Unlock()
	rec, err := b.readSent(ctx, s, st, ds.ID)
	if err != nil || rec == nil {
		return err
	}
	if statusRank(ds.Status) < statusRank(rec.Status) || statusRank(rec.Status) == rankFinal && rec.Status != ds.Status {
		return nil // out of order: a final status stands
	}
	rec.Status, rec.Reply, rec.Attempts, rec.UpdatedAt = ds.Status, ds.Reply, max(rec.Attempts, ds.Attempt), b.now().UTC()
	return b.writeSent(ctx, s, st, rec)
}
