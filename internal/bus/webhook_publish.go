package bus

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The webhook path: plugin → JetStream → relay → receiver, and each
// delivery attempt back: relay → JetStream → plugin. Events travel sealed
// (webhook_seal.go).

// Outcomes of a delivery attempt.
const (
	AttemptDelivered = "delivered" // the receiver answered 2xx
	AttemptRetrying  = "retrying"  // failed; tried again at NextRetry
	AttemptFailed    = "failed"    // failed, and the event is a day old: given up
	AttemptRefused   = "refused"   // the target is not one the policy allows: not retried
	AttemptCancelled = "cancelled" // the agent was revoked: not delivered
	AttemptDropped   = "dropped"   // the plugin could not queue it (the webhook stream is full)
)

// WebhookAttempt is one delivery attempt of one event, as a relay reports it.
type WebhookAttempt struct {
	EventID   string `json:"event_id"`
	Type      string `json:"type"`
	Agent     string `json:"agent"`
	Webhook   string `json:"webhook"`
	WebhookID string `json:"webhook_id"`
	// Attempt counts attempts at this event, 1 for the first.
	Attempt int    `json:"attempt"`
	Outcome string `json:"outcome"`
	// StatusCode is the receiver's HTTP status, 0 when there was none;
	// Error says what went wrong otherwise.
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
	// NextRetry is when the event is tried again (AttemptRetrying).
	NextRetry *time.Time `json:"next_retry,omitempty"`
	// DurationMillis is how long the attempt took.
	DurationMillis int64 `json:"duration_ms,omitempty"`
	// Relay names the relay that made the attempt.
	Relay string `json:"relay,omitempty"`
}

// PublishWebhook queues one event, signed by the plugin and sealed to the
// relays; it returns once JetStream has it. A stream at its limits gives
// ErrBusFull.
func PublishWebhook(ctx context.Context, js jetstream.JetStream, domain string, ev *WebhookEvent, signer ed25519.PrivateKey, relays []RelayPublic) error {
	data, err := SealWebhook(domain, ev, signer, relays)
	if err != nil {
		return fmt.Errorf("queue webhook event: %w", err)
	}
	msg := nats.NewMsg(WebhookSubject(domain))
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
	msg.Header.Set(HeaderAgent, ev.Agent)
	msg.Header.Set(HeaderSeal, webhookSealVersion)
	msg.Data = data
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue webhook event: %w", classifyFull(err))
	}
	return nil
}

// PublishWebhookAttempt reports one delivery attempt.
func PublishWebhookAttempt(ctx context.Context, js jetstream.JetStream, domain string, a *WebhookAttempt) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(WebhookStatusSubject(domain))
	// One report per event, attempt and outcome: a retried publish is kept once.
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d-%s", a.EventID, a.Attempt, a.Outcome))
	msg.Data = data
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish webhook attempt: %w", err)
	}
	return nil
}
