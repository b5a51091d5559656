package bus

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mailgent/mailgent/internal/webhook"
)

// Webhook events travel as queued outbound mail does (outbound_seal.go):
// signed by the plugin and sealed to the registered relays (header
// HeaderSeal = "webhook-1"). The relay must sign each delivery with the
// webhook's secret at the moment it sends it (the Standard Webhooks
// timestamp is part of the signature, and receivers refuse one more than
// five minutes old), so the secret has to reach the relay that delivers:
// sealed like this it reaches only registered relays, never NATS in clear,
// and the relays need no access to the plugin's storage.
const webhookSealVersion = "webhook-1"

// WebhookEvent is one event for one webhook, as the relay delivers it.
type WebhookEvent struct {
	// ID is the event's stable ID (webhook.EventID): the webhook-id header
	// and the Nats-Msg-Id.
	ID string `json:"id"`
	// Type is the event type (webhook.MessageReceived, …).
	Type string `json:"type"`
	// Agent is the agent the event is about; a revoked agent's events are
	// not delivered.
	Agent string `json:"agent"`
	// Webhook names the webhook the attempts are recorded on
	// ("agent/<agent>/<name>" or "org/<org>/<name>"); WebhookID is its
	// incarnation, so a webhook deleted and made again is not mistaken
	// for it.
	Webhook   string `json:"webhook"`
	WebhookID string `json:"webhook_id"`
	// URL is where the event is POSTed; Target is the operator's policy of
	// which addresses it may reach, as the plugin's config said.
	URL    string         `json:"url"`
	Target webhook.Policy `json:"target"`
	// Secret is the webhook's signing secret (whsec_…).
	Secret string `json:"secret"`
	// Body is the JSON POSTed, byte for byte what is signed.
	Body []byte `json:"body"`
	// CreatedAt is when the plugin published the event.
	CreatedAt time.Time `json:"created_at"`
}

func webhookAD(domain, id string) []byte {
	return []byte("mailgent webhook v1\x00" + domain + "\x00" + id)
}

// ErrForgedWebhook marks an event a relay must not deliver: not signed by
// the plugin's key, not sealed to this relay, or altered.
var ErrForgedWebhook = errors.New("webhook event refused")

// SealWebhook encrypts and signs an event for the given relays.
func SealWebhook(domain string, ev *WebhookEvent, signer ed25519.PrivateKey, relays []RelayPublic) ([]byte, error) {
	plain, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return sealForRelays(webhookAD(domain, ev.ID), plain, signer, relays)
}

// OpenWebhook checks an event's signature against the plugin's signing
// key and opens it with the relay's key. id is the stream message's
// Nats-Msg-Id, which the sealed event must carry too.
func OpenWebhook(domain, id, version string, data []byte, plugin ed25519.PublicKey, relay *RelayKey) (*WebhookEvent, error) {
	if version != webhookSealVersion {
		return nil, fmt.Errorf("%w: not sealed by the plugin (seal version %q)", ErrForgedWebhook, version)
	}
	plain, err := openFromPlugin(webhookAD(domain, id), data, plugin, relay, ErrForgedWebhook)
	if err != nil {
		return nil, err
	}
	var ev WebhookEvent
	if err := json.Unmarshal(plain, &ev); err != nil || ev.ID != id {
		return nil, fmt.Errorf("%w: the sealed event is not event %s", ErrForgedWebhook, id)
	}
	return &ev, nil
}
