package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
	"github.com/mailgent/mailgent/internal/webhook"
)

// The events the plugin makes (their data, docs/api.md "Webhooks"), and
// the delivery attempts the relays report back.

// emitReceived tells webhooks a message was stored in st's inbox under
// key: its summary — sender, trust, subject, codes, links — never its
// body.
func (b *backend) emitReceived(ctx context.Context, s logical.Storage, st *agentState, p *bus.Payload, key string) error {
	h := p.Head
	return b.emit(ctx, s, st, webhook.MessageReceived, webhook.MessageReceived+"/"+h.ID, h.ReceivedAt, func() map[string]any {
		// Decoded only when a webhook wants it: the consumer stores the
		// message's JSON without decoding it.
		var m struct {
			Codes []mailmsg.Code `json:"codes"`
			Links []mailmsg.Link `json:"links"`
		}
		_ = json.Unmarshal(p.MessageJSON, &m) // the relay made it; at worst no codes and links
		codes := []string{}
		for _, c := range m.Codes[:min(len(m.Codes), maxEventCodes)] {
			codes = append(codes, c.Code)
		}
		links := []map[string]any{}
		for _, l := range m.Links[:min(len(m.Links), maxEventLinks)] {
			links = append(links, map[string]any{"url": l.URL, "text": mailparse.TruncateUTF8(l.Text, 200), "kind": l.Kind, "host": l.Host, "aligned": l.Aligned})
		}
		trust := h.Trust
		if trust != mailmsg.TrustVerified {
			trust = mailmsg.TrustUnverified
		}
		return map[string]any{
			"agent": st.entry.Name, "org": st.entry.Org, "message_id": key,
			"from": h.From, "sender": h.FromAddress, "sender_domain": h.SenderDomain, "trust": trust,
			"subject": h.Subject, "code": h.Code, "codes": codes, "links": links,
			"attachments": h.Attachments, "received_at": h.ReceivedAt.UTC().Format(time.RFC3339Nano),
		}
	})
}

// emitSent tells webhooks how a sent message ended: message.sent or
// message.failed.
func (b *backend) emitSent(ctx context.Context, s logical.Storage, st *agentState, rec *sentRecord, at time.Time) error {
	typ := webhook.MessageSent
	if rec.Status == bus.StatusFailed {
		typ = webhook.MessageFailed
	}
	return b.emit(ctx, s, st, typ, typ+"/"+rec.ID, at, func() map[string]any {
		return map[string]any{
			"agent": st.entry.Name, "org": st.entry.Org, "id": rec.ID, "message_id": rec.MessageID,
			"to": nonNil(rec.To), "cc": nonNil(rec.Cc), "subject": rec.Subject,
			"status": rec.Status, "reply": rec.Reply, "attempts": rec.Attempts,
			"queued_at": rec.QueuedAt.UTC().Format(time.RFC3339Nano), "at": at.UTC().Format(time.RFC3339Nano),
		}
	})
}

// emitLogin tells webhooks of a login report (audit event ev).
func (b *backend) emitLogin(ctx context.Context, s logical.Storage, st *agentState, ev *auditEvent) error {
	return b.emit(ctx, s, st, webhook.LoginReported, webhook.LoginReported+"/"+ev.ID, ev.Time, func() map[string]any {
		return map[string]any{
			"agent": st.entry.Name, "org": st.entry.Org, "credential": ev.Credential, "outcome": ev.Outcome,
			"event_id": ev.ID, "at": ev.Time.UTC().Format(time.RFC3339Nano),
		}
	})
}

// consumeWebhookStatus records the relays' delivery attempts as they
// come, until the returned stop is called.
func (b *backend) consumeWebhookStatus(ctx context.Context, s logical.Storage, cons jetstream.Consumer) (stop func(), err error) {
	cc, err := cons.Consume(func(m jetstream.Msg) { b.handleWebhookStatus(ctx, s, m) })
	if err != nil {
		return nil, fmt.Errorf("webhook attempt consumer: %w", err)
	}
	return cc.Stop, nil
}

// handleWebhookStatus records one delivery attempt: acked once stored (or
// when its webhook is gone), retried on a storage error, terminated if it
// is not an attempt.
func (b *backend) handleWebhookStatus(ctx context.Context, s logical.Storage, m busMsg) {
	var a bus.WebhookAttempt
	if err := json.Unmarshal(m.Data(), &a); err != nil {
		_ = m.TermWithReason("undecodable webhook attempt")
		return
	}
	if reason := checkAttempt(&a); reason != "" {
		b.logger.Warn("webhook attempt refused", "reason", reason)
		_ = m.TermWithReason(reason)
		return
	}
	if err := b.applyWebhookAttempt(ctx, s, &a); err != nil {
		b.logger.Warn("record webhook attempt; retrying", "event_id", a.EventID, "error", err)
		_ = m.NakWithDelay(statusRetry)
		return
	}
	_ = m.Ack()
}

// attemptOutcome tells whether o is an outcome an attempt may report.
func attemptOutcome(o string) bool {
	switch o {
	case bus.AttemptDelivered, bus.AttemptRetrying, bus.AttemptFailed, bus.AttemptRefused, bus.AttemptCancelled, bus.AttemptDropped:
		return true
	}
	return false
}

// checkAttempt validates every field of an attempt that becomes part of a
// storage key; the reason it is refused, or "".
func checkAttempt(a *bus.WebhookAttempt) string {
	o, name, ok := parseHookRef(a.Webhook)
	switch {
	case !ok:
		return "webhook is not <agent|org>/<owner>/<name>"
	case o.kind == subjectAgent && validateAgentName(o.name) != nil, o.kind == subjectOrg && validateOrgName(o.name) != nil:
		return "webhook owner is not a name"
	case validateName("name", name, agentNameRe, 64) != nil:
		return "webhook name is not a name"
	case !webhook.ValidEventID(a.EventID):
		return "event_id is not an event ID"
	case a.Attempt < 1 || a.Attempt > 1_000_000:
		return "attempt is out of range"
	case !attemptOutcome(a.Outcome):
		return "outcome is not an attempt outcome"
	}
	return ""
}

// parseHookRef reads <kind>/<owner>/<name>.
func parseHookRef(ref string) (hookOwner, string, bool) {
	parts := strings.Split(ref, "/")
	if len(parts) != 3 || (parts[0] != subjectAgent && parts[0] != subjectOrg) {
		return hookOwner{}, "", false
	}
	return hookOwner{parts[0], parts[1]}, parts[2], true
}

// maxAttemptError bounds the error text kept of an attempt.
const maxAttemptError = 512

// applyWebhookAttempt stores one attempt under its webhook, unless the
// webhook is gone or is another incarnation (deleted and made again).
func (b *backend) applyWebhookAttempt(ctx context.Context, s logical.Storage, a *bus.WebhookAttempt) error {
	o, name, _ := parseHookRef(a.Webhook)
	h, err := b.findHook(ctx, s, o, name)
	if err != nil {
		return err
	}
	if h == nil || h.ID != a.WebhookID {
		return nil
	}
	if a.Relay != "plugin" {
		b.metrics.webhooks.WithLabelValues(a.Outcome).Inc()
	}
	a.Error = escapeText(mailparse.TruncateUTF8(a.Error, maxAttemptError))
	a.Relay = escapeText(mailparse.TruncateUTF8(a.Relay, 128))
	return putJSON(ctx, s, o.deliveryPrefix(name)+attemptKey(a), a)
}

// attemptKey sorts newest first; the same report stored twice is one entry.
func attemptKey(a *bus.WebhookAttempt) string {
	return reverseTime(a.At) + "-" + a.EventID + "-" + strconv.Itoa(a.Attempt) + "-" + a.Outcome
}

// attemptKeyRe is the shape of attemptKey: a deliveries page's cursor.
var attemptKeyRe = regexp.MustCompile(`^[0-9]{19}-msg_[a-z2-7]{26}-[0-9]+-[a-z]+$`)

// attemptData is one attempt in the deliveries listing.
func attemptData(a *bus.WebhookAttempt) map[string]any {
	m := map[string]any{
		"event_id": a.EventID, "type": a.Type, "agent": a.Agent, "attempt": a.Attempt, "outcome": a.Outcome,
		"status_code": a.StatusCode, "error": a.Error, "at": a.At.UTC().Format(time.RFC3339Nano),
		"duration_ms": a.DurationMillis, "relay": a.Relay,
	}
	if a.NextRetry != nil {
		m["next_retry"] = a.NextRetry.UTC().Format(time.RFC3339Nano)
	}
	return m
}

// sweepWebhookDeliveries removes attempts older than
// webhookDeliveryRetention.
func (b *backend) sweepWebhookDeliveries(ctx context.Context, s logical.Storage) error {
	cutoff := reverseTime(b.now().Add(-webhookDeliveryRetention))
	for _, kind := range []string{subjectAgent, subjectOrg} {
		owners, err := s.List(ctx, webhookDeliveryPrefix+kind+"/")
		if err != nil {
			return err
		}
		for _, owner := range owners {
			hooks, err := s.List(ctx, webhookDeliveryPrefix+kind+"/"+owner)
			if err != nil {
				return err
			}
			for _, hook := range hooks {
				prefix := webhookDeliveryPrefix + kind + "/" + owner + hook
				keys, err := s.List(ctx, prefix)
				if err != nil {
					return err
				}
				for _, k := range keys {
					if len(k) >= 19 && k[:19] > cutoff {
						if err := s.Delete(ctx, prefix+k); err != nil {
							return fmt.Errorf("sweep webhook attempts: %w", err)
						}
					}
				}
			}
		}
	}
	return nil
}
