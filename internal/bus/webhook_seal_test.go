package bus

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/webhook"
)

// A webhook event is readable only by the relays it is sealed to, and only
// as the plugin signed it: its secret and body never travel in clear.
func TestWebhookEventIsSignedAndSealedToRelays(t *testing.T) {
	_, plugin, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pluginPub := plugin.Public().(ed25519.PublicKey)
	r1, stranger := relayKey(t), relayKey(t)
	p1, err := r1.Public()
	require.NoError(t, err)
	ev := &WebhookEvent{ID: webhook.EventID("h1", "message.received/x"), Type: webhook.MessageReceived, Agent: "bot",
		Webhook: "agent/bot/hook", WebhookID: "h1", URL: "https://hooks.example.com/in", Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
		Body: []byte(`{"type":"message.received","data":{"subject":"code 123456"}}`), Target: webhook.Policy{AllowPrivate: true},
		CreatedAt: time.Unix(1_800_000_000, 0).UTC()}
	data, err := SealWebhook("d.example", ev, plugin, []RelayPublic{p1})
	require.NoError(t, err)
	for _, clear := range []string{"whsec_", "123456", "hooks.example.com"} {
		require.NotContains(t, string(data), clear)
	}
	got, err := OpenWebhook("d.example", ev.ID, webhookSealVersion, data, pluginPub, r1)
	require.NoError(t, err)
	require.Equal(t, ev, got)

	for _, tc := range []struct {
		name, domain, id, version string
		data                      []byte
		relay                     *RelayKey
		want                      string
	}{
		{"a relay it was not sealed to", "d.example", ev.ID, webhookSealVersion, data, stranger, "not sealed to this relay"},
		{"under another ID", "d.example", webhook.EventID("h1", "other"), webhookSealVersion, data, r1, "signature"},
		{"for another domain", "e.example", ev.ID, webhookSealVersion, data, r1, "signature"},
		{"as outbound mail", "d.example", ev.ID, outboundSealVersion, data, r1, "not sealed by the plugin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenWebhook(tc.domain, tc.id, tc.version, tc.data, pluginPub, tc.relay)
			require.ErrorIs(t, err, ErrForgedWebhook)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// An outbound envelope does not open as an event, nor one signed by another key.
	_, err = OpenOutbound("d.example", ev.ID, outboundSealVersion, data, pluginPub, r1)
	require.ErrorIs(t, err, ErrForgedOutbound)
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := SealWebhook("d.example", ev, forger, []RelayPublic{p1})
	require.NoError(t, err)
	_, err = OpenWebhook("d.example", ev.ID, webhookSealVersion, forged, pluginPub, r1)
	require.ErrorIs(t, err, ErrForgedWebhook)
	var e outboundEnvelope
	require.NoError(t, json.Unmarshal(data, &e))
	e.Body[3] ^= 1
	tampered, _ := json.Marshal(&e)
	_, err = OpenWebhook("d.example", ev.ID, webhookSealVersion, tampered, pluginPub, r1)
	require.True(t, errors.Is(err, ErrForgedWebhook) && strings.Contains(err.Error(), "signature"), "%v", err)
}
