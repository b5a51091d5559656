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

// The outbound path: plugin → JetStream → relay → smarthost, and the
// delivery result back: relay → JetStream → plugin. Queued messages travel
// sealed (outbound_seal.go).

// Delivery statuses.
const (
	StatusQueued    = "queued"    // in the outbound stream
	StatusDeferred  = "deferred"  // a temporary failure; will be retried
	StatusSent      = "sent"      // the smarthost accepted it
	StatusFailed    = "failed"    // permanent failure, or retries exhausted
	StatusCancelled = "cancelled" // the agent was revoked before delivery
)

// Outbound is one queued message: the signed RFC 5322 bytes and the envelope.
type Outbound struct {
	// ID is the sent-mail record's key; also the Nats-Msg-Id (dedup).
	ID string `json:"id"`
	// MessageID is the Message-ID header, without angle brackets.
	MessageID string `json:"message_id"`
	// Agent sends, from MailFrom (its address).
	Agent    string   `json:"agent"`
	MailFrom string   `json:"mail_from"`
	Rcpts    []string `json:"rcpts"`
	// Raw is the DKIM-signed message.
	Raw      []byte    `json:"raw"`
	QueuedAt time.Time `json:"queued_at"`
}

// DeliveryStatus is one delivery result.
type DeliveryStatus struct {
	ID     string `json:"id"`
	Agent  string `json:"agent"`
	Status string `json:"status"`
	// Reply is the smarthost's last reply (or the error), for the record.
	Reply string `json:"reply,omitempty"`
	// Attempt counts delivery attempts so far.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// Relay names the relay that reported it.
	Relay string `json:"relay,omitempty"`
}

// PublishOutbound queues a message, signed by the plugin's key and sealed
// to the registered relays (SealOutbound); it returns once JetStream has
// it. A payload over InlineLimit goes through the blob store, as inbound
// mail does.
func PublishOutbound(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore, domain string, o *Outbound, signer ed25519.PrivateKey, relays []RelayPublic) error {
	data, err := SealOutbound(domain, o, signer, relays)
	if err != nil {
		return fmt.Errorf("queue outbound message: %w", err)
	}
	msg := nats.NewMsg(OutboundSubject(domain))
	msg.Header.Set(jetstream.MsgIDHeader, o.ID)
	msg.Header.Set(HeaderAgent, o.Agent)
	msg.Header.Set(HeaderSeal, outboundSealVersion)
	if err := attachPayload(ctx, obs, msg, "out-"+o.ID, data); err != nil {
		return fmt.Errorf("queue outbound message: put blob: %w", err)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue outbound message: %w", err)
	}
	return nil
}

// OutboundPayload returns a queued message's sealed bytes, inline or from
// its blob.
func OutboundPayload(ctx context.Context, obs jetstream.ObjectStore, m jetstream.Msg) ([]byte, error) {
	blob := m.Headers().Get(HeaderBlob)
	if blob == "" {
		return m.Data(), nil
	}
	if obs == nil {
		return nil, fmt.Errorf("blob %s: no object store", blob)
	}
	return obs.GetBytes(ctx, blob)
}

// PublishStatus reports a delivery result.
func PublishStatus(ctx context.Context, js jetstream.JetStream, domain string, s *DeliveryStatus) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(StatusSubject(domain))
	// One status per message, attempt and state: a relay retrying a publish
	// does not report twice.
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d-%s", s.ID, s.Attempt, s.Status))
	msg.Data = data
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish delivery status: %w", err)
	}
	return nil
}
