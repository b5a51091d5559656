package bus

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
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
	// OutboundBlobBucket holds queued messages too large for one stream
	// message. The plugin writes it, relays only read it (a bucket apart
	// from the inbound blobs, which relays write).
	OutboundBlobBucket = "mailgent_outbound_blobs"
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

// EnsureOutbound creates the outbound and status streams, the delivery
// bucket and the outbound blob store.
func EnsureOutbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
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
		return nil, nil, fmt.Errorf("ensure stream %s: %w", OutboundStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StatusStream,
		Description: "Delivery results of Mailgent outbound mail, for the plugin",
		Subjects:    []string{StatusSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, nil, fmt.Errorf("ensure stream %s: %w", StatusStream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DeliveryBucket,
		Description: "Outbound messages a Mailgent relay delivered (never send twice)",
		History:     1,
		TTL:         7 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ensure KV %s: %w", DeliveryBucket, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      OutboundBlobBucket,
		Description: "Mailgent outbound messages too large for one stream message, sealed to the relays",
		TTL:         blobTTL,
		Storage:     jetstream.FileStorage,
		MaxBytes:    BlobMaxBytes,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ensure object store %s: %w", OutboundBlobBucket, err)
	}
	return kv, obs, nil
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

// Queued messages travel sealed (header HeaderSeal = "outbound-2"): the
// Outbound's JSON encrypted with AES-256-GCM under a fresh message key, the
// key sealed with HPKE to each registered relay's sealing key (any of them
// may deliver it), and the whole signed with the plugin's Ed25519 key, so
// a relay delivers only what the plugin queued, and NATS (the stream, the
// blob store, a server's disk) holds no outbound mail in clear.
const outboundSealVersion = "outbound-2"

type outboundEnvelope struct {
	Signer string         `json:"signer"` // the plugin signing key's ID
	Wraps  []outboundWrap `json:"wraps"`
	Nonce  []byte         `json:"nonce"`
	Body   []byte         `json:"body"`
	Sig    []byte         `json:"sig"`
}

// outboundWrap is the message key sealed to one relay (HPKE enc‖ciphertext).
type outboundWrap struct {
	Relay string `json:"relay"`
	Key   []byte `json:"key"`
}

func outboundAD(domain, id string) []byte {
	return []byte("mailgent outbound v2\x00" + domain + "\x00" + id)
}

// signedBytes is what the plugin signs: every field, length-prefixed.
func (e *outboundEnvelope) signedBytes(domain, id string) []byte {
	out := outboundAD(domain, id)
	field := func(b []byte) { out = binary.AppendUvarint(out, uint64(len(b))); out = append(out, b...) }
	field([]byte(e.Signer))
	for _, w := range e.Wraps {
		field([]byte(w.Relay))
		field(w.Key)
	}
	field(e.Nonce)
	field(e.Body)
	return out
}

// ErrNoRelays: no relay is registered, so no one could read the message.
var ErrNoRelays = errors.New("no relay is registered (config/relays): outbound mail could not be sealed to any")

// SealOutbound encrypts and signs a queued message for the given relays.
func SealOutbound(domain string, o *Outbound, signer ed25519.PrivateKey, relays []RelayPublic) ([]byte, error) {
	if len(relays) == 0 {
		return nil, ErrNoRelays
	}
	plain, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	e := &outboundEnvelope{Signer: KeyID(signer.Public().(ed25519.PublicKey)), Nonce: make([]byte, 12)}
	if _, err := rand.Read(e.Nonce); err != nil {
		return nil, err
	}
	aead, err := aesGCM(key)
	if err != nil {
		return nil, err
	}
	e.Body = aead.Seal(nil, e.Nonce, plain, outboundAD(domain, o.ID))
	for _, r := range relays {
		pk, err := hpkeKEM.NewPublicKey(r.SealingKey)
		if err != nil {
			return nil, fmt.Errorf("relay %s sealing key: %w", KeyID(r.SigningKey), err)
		}
		wrapped, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, outboundAD(domain, o.ID), key)
		if err != nil {
			return nil, err
		}
		e.Wraps = append(e.Wraps, outboundWrap{Relay: KeyID(r.SigningKey), Key: wrapped})
	}
	e.Sig = ed25519.Sign(signer, e.signedBytes(domain, o.ID))
	return json.Marshal(e)
}

// ErrForgedOutbound marks a queued message a relay must not deliver: not
// signed by the plugin's key, not sealed to this relay, or altered.
var ErrForgedOutbound = errors.New("outbound message refused")

// OpenOutbound checks a queued message's signature against the plugin's
// signing key and opens it with the relay's key. id is the stream
// message's Nats-Msg-Id, which the sealed message must carry too.
func OpenOutbound(domain, id, version string, data []byte, plugin ed25519.PublicKey, relay *RelayKey) (*Outbound, error) {
	if version != outboundSealVersion {
		return nil, fmt.Errorf("%w: not sealed by the plugin (seal version %q)", ErrForgedOutbound, version)
	}
	if len(plugin) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the plugin's signing key is not known yet", ErrForgedOutbound)
	}
	var e outboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: undecodable: %v", ErrForgedOutbound, err)
	}
	if !ed25519.Verify(plugin, e.signedBytes(domain, id), e.Sig) {
		return nil, fmt.Errorf("%w: the signature does not verify with the plugin's key", ErrForgedOutbound)
	}
	mine := KeyID(relay.Signing.Public().(ed25519.PublicKey))
	for _, w := range e.Wraps {
		if w.Relay != mine {
			continue
		}
		priv, err := hpkeKEM.NewPrivateKey(relay.Sealing)
		if err != nil {
			return nil, err
		}
		key, err := hpke.Open(priv, hpkeKDF, hpkeAEAD, outboundAD(domain, id), w.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: the message key does not open with this relay's key", ErrForgedOutbound)
		}
		aead, err := aesGCM(key)
		if err != nil {
			return nil, err
		}
		plain, err := aead.Open(nil, e.Nonce, e.Body, outboundAD(domain, id))
		if err != nil {
			return nil, fmt.Errorf("%w: the body does not decrypt", ErrForgedOutbound)
		}
		var o Outbound
		if err := json.Unmarshal(plain, &o); err != nil || o.ID != id {
			return nil, fmt.Errorf("%w: the sealed message is not message %s", ErrForgedOutbound, id)
		}
		return &o, nil
	}
	return nil, fmt.Errorf("%w: not sealed to this relay (key %s): register it with the plugin (config/relays)", ErrForgedOutbound, mine)
}
