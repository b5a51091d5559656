package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The outbound path: plugin → JetStream → relay → smarthost, and the
// delivery result back: relay → JetStream → plugin.
const (
	// OutboundStream holds signed messages the plugin queued until a relay
	// delivered them (or gave up).
	OutboundStream        = "MAILGENT_OUTBOUND"
	OutboundSubjectPrefix = "mailgent.outbound."
	// StatusStream carries delivery results back to the plugin.
	StatusStream        = "MAILGENT_OUTBOUND_STATUS"
	StatusSubjectPrefix = "mailgent.outstatus."
	// DeliveryBucket remembers which messages a relay delivered, so a
	// redelivered queue message is never sent twice.
	DeliveryBucket = "mailgent_delivered"
)

// Delivery statuses.
const (
	StatusQueued    = "queued"    // in the outbound stream
	StatusDeferred  = "deferred"  // a temporary failure; will be retried
	StatusSent      = "sent"      // the smarthost accepted it
	StatusFailed    = "failed"    // permanent failure, or retries exhausted
	StatusCancelled = "cancelled" // the agent was revoked before delivery
)

// OutboundSubject is where the plugin queues a domain's outbound mail.
func OutboundSubject(domain string) string { return OutboundSubjectPrefix + token(domain) }

// StatusSubject is where relays report a domain's delivery results.
func StatusSubject(domain string) string { return StatusSubjectPrefix + token(domain) }

// RelayConsumerName is the durable consumer all relays of a domain share:
// each queued message goes to one relay.
func RelayConsumerName(domain string) string { return "mailgent-relay-" + token(domain) }

// StatusConsumerName is the plugin's durable consumer of delivery results.
func StatusConsumerName(domain string) string { return "mailgent-plugin-status-" + token(domain) }

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

// EnsureOutbound creates the outbound and status streams and the delivery bucket.
func EnsureOutbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        OutboundStream,
		Description: "Signed mail the Mailgent plugin queued, until a relay delivered it",
		Subjects:    []string{OutboundSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		// A queued message may be large: attachments up to the send limit.
		MaxMsgSize: -1,
	}); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", OutboundStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StatusStream,
		Description: "Delivery results of Mailgent outbound mail, for the plugin",
		Subjects:    []string{StatusSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StatusStream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DeliveryBucket,
		Description: "Outbound messages a Mailgent relay delivered (never send twice)",
		History:     1,
		TTL:         7 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure KV %s: %w", DeliveryBucket, err)
	}
	return kv, nil
}

// PublishOutbound queues a message; it returns once JetStream has it. A
// payload over InlineLimit goes through the blob store, as inbound mail does.
func PublishOutbound(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore, domain string, o *Outbound) error {
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(OutboundSubject(domain))
	msg.Header.Set(jetstream.MsgIDHeader, o.ID)
	msg.Header.Set(HeaderAgent, o.Agent)
	if len(data) > InlineLimit {
		blob := "out-" + o.ID
		if _, err := obs.PutBytes(ctx, blob, data); err != nil {
			return fmt.Errorf("queue outbound message: put blob: %w", err)
		}
		msg.Header.Set(HeaderBlob, blob)
	} else {
		msg.Data = data
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue outbound message: %w", err)
	}
	return nil
}

// OutboundPayload returns a queued message's JSON, inline or from its blob.
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

// RelayConsumerConfig is the relays' shared durable consumer of outbound
// mail. Redelivery is driven by the relay (NakWithDelay with backoff);
// MaxDeliver bounds the attempts, after which the relay reports failed.
func RelayConsumerConfig(domain string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       RelayConsumerName(domain),
		Description:   "Mailgent relays delivering @" + domain + " mail",
		FilterSubject: OutboundSubject(domain),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       2 * time.Minute,
		MaxDeliver:    MaxDeliveryAttempts,
		MaxAckPending: 64,
	}
}

// MaxDeliveryAttempts bounds delivery attempts of one message: with the
// relay's backoff (capped at 5 minutes) about a day, as MTAs retry.
const MaxDeliveryAttempts = 300

// StatusConsumerConfig is the plugin's durable consumer of results.
func StatusConsumerConfig(domain string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       StatusConsumerName(domain),
		Description:   "Mailgent plugin: delivery results for @" + domain,
		FilterSubject: StatusSubject(domain),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
	}
}
