package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/webhook"
)

// ---- webhook delivery, with JetStream faked and a real receiver ----

// hookJS records the attempts a relay reports.
type hookJS = recordingJS[bus.WebhookAttempt]

func newHookJS(ev *events) *hookJS {
	return &hookJS{ev: ev, label: func(a bus.WebhookAttempt) string { return "attempt " + a.Outcome }}
}

// lastAttempt is the attempt js recorded last.
func lastAttempt(t *testing.T, js *hookJS) bus.WebhookAttempt {
	t.Helper()
	js.mu.Lock()
	defer js.mu.Unlock()
	require.NotEmpty(t, js.got)
	return js.got[len(js.got)-1]
}

// hookMsgFake is a pulled event published at a given time.
type hookMsgFake struct {
	fakeMsg
	published time.Time
}

func (m *hookMsgFake) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered, Timestamp: m.published}, nil
}

// receiver is a webhook endpoint on loopback answering status, recording
// each request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	requests []*http.Request
	bodies   [][]byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusNoContent}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests, r.bodies = append(r.requests, req), append(r.bodies, body)
		status := r.status
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

type hookMachine struct {
	w      *webhooks
	ev     *events
	kv     *fakeKV
	js     *hookJS
	dir    *directory
	plugin ed25519.PrivateKey
	relay  *bus.RelayKey
}

func newHookMachine(t *testing.T, retry string) *hookMachine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KeyFile, cfg.Domain, cfg.Hostname = testKeyFile(t), "agents.example.com", "relay-1"
	cfg.WebhookRetry, cfg.WebhookTimeout = retry, 2*time.Second
	require.NoError(t, cfg.Validate())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	relayKey, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	_, plugin, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s := &Server{cfg: cfg, logger: logger, dir: newDirectory(cfg.Domain, logger), key: relayKey, metrics: newMetrics()}
	s.dir.synced = true
	s.dir.agents["billing-bot"] = true
	s.dir.signerKey = plugin.Public().(ed25519.PublicKey)
	schedule, err := webhook.ParseSchedule(retry)
	require.NoError(t, err)
	ev := &events{}
	m := &hookMachine{w: newWebhooks(s, schedule), ev: ev, kv: &fakeKV{ev: ev, m: map[string]string{}}, js: newHookJS(ev), dir: s.dir, plugin: plugin, relay: relayKey}
	m.w.js, m.w.kv = m.js, m.kv
	return m
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func testEvent(url string, p webhook.Policy) *bus.WebhookEvent {
	return &bus.WebhookEvent{ID: webhook.EventID("hook-1", "message.received/x"), Type: webhook.MessageReceived, Agent: "billing-bot",
		Webhook: "agent/billing-bot/crm", WebhookID: "hook-1", URL: url, Target: p, Secret: testSecret,
		Body: []byte(`{"type":"message.received","data":{"subject":"hi"}}`), CreatedAt: time.Now()}
}

// handle seals ev as the plugin does and hands it to the state machine as
// delivery attempt, published at published.
func (m *hookMachine) handle(t *testing.T, ev *bus.WebhookEvent, attempt uint64, published time.Time) {
	t.Helper()
	m.handleSigned(t, ev, m.plugin, attempt, published)
}

func (m *hookMachine) handleSigned(t *testing.T, ev *bus.WebhookEvent, signer ed25519.PrivateKey, attempt uint64, published time.Time) {
	t.Helper()
	pub, err := m.relay.Public()
	require.NoError(t, err)
	data, err := bus.SealWebhook("agents.example.com", ev, signer, []bus.RelayPublic{pub})
	require.NoError(t, err)
	msg := &hookMsgFake{fakeMsg: fakeMsg{data: data, header: nats.Header{jetstream.MsgIDHeader: {ev.ID}, bus.HeaderSeal: {"webhook-1"}}, delivered: attempt, ev: m.ev},
		published: published}
	m.w.handle(msg)
}

// A 2xx is a delivery: recorded before it is reported, signed as the
// Standard Webhooks spec says (checked here with the HMAC computed
// independently), and never sent again when the event comes back.
func TestWebhookDeliveredSignedAndNeverTwice(t *testing.T) {
	m := newHookMachine(t, "5s,30s,2m,10m,30m,1h")
	r := newReceiver(t)
	ev := testEvent(r.URL+"/hook", webhook.Policy{AllowedHosts: []string{"127.0.0.1"}})
	m.handle(t, ev, 1, time.Now())
	require.Equal(t, []string{"kv.put " + bus.WebhookDeliveryKey(ev.ID), "attempt delivered", "doubleack"}, m.ev.all())
	a := lastAttempt(t, m.js)
	require.Equal(t, 204, a.StatusCode)
	require.Equal(t, "relay-1", a.Relay)
	require.Equal(t, "agent/billing-bot/crm", a.Webhook)

	require.Equal(t, 1, r.count())
	req, body := r.requests[0], r.bodies[0]
	require.Equal(t, string(ev.Body), string(body))
	require.Equal(t, ev.ID, req.Header.Get("webhook-id"))
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	ts := req.Header.Get("webhook-timestamp")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ev.ID + "." + ts + "." + string(body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), req.Header.Get("webhook-signature"))

	m.handle(t, ev, 2, time.Now()) // the ack was lost
	require.Equal(t, 1, r.count(), "delivered once")
	require.Equal(t, "ack", m.ev.all()[3])
}

// Anything but a 2xx is retried on the schedule, each attempt reported
// with its status and next retry, until the next try would be more than
// a day after the event was made: then it is given up as failed.
func TestWebhookRetriesOnTheScheduleForADay(t *testing.T) {
	m := newHookMachine(t, "5s,30s,2m,10m,30m,1h")
	r := newReceiver(t)
	r.status = http.StatusServiceUnavailable
	ev := testEvent(r.URL+"/hook", webhook.Policy{AllowedHosts: []string{"127.0.0.1"}})
	for _, tc := range []struct {
		attempt uint64
		age     time.Duration
		want    string
	}{
		{1, 0, "nak 5s"}, {2, 5 * time.Second, "nak 30s"}, {3, time.Minute, "nak 2m0s"}, {7, 3 * time.Hour, "nak 1h0m0s"},
		{29, 23*time.Hour + 30*time.Minute, "term attempts exhausted"},
	} {
		before := len(m.ev.all())
		m.handle(t, ev, tc.attempt, time.Now().Add(-tc.age))
		got := m.ev.all()[before:]
		a := lastAttempt(t, m.js)
		require.Equal(t, 503, a.StatusCode)
		require.Equal(t, int(tc.attempt), a.Attempt)
		if strings.HasPrefix(tc.want, "nak") {
			require.Equal(t, []string{"attempt retrying", tc.want}, got)
			require.NotNil(t, a.NextRetry)
			require.Equal(t, "HTTP 503", a.Error)
			continue
		}
		require.Equal(t, []string{"attempt failed", tc.want}, got)
		require.Contains(t, a.Error, "given up after 29 attempts over a day")
	}
	require.Equal(t, 5, r.count())

	// A receiver that cannot be reached at all is retried the same way.
	r.Close()
	before := len(m.ev.all())
	m.handle(t, ev, 1, time.Now())
	require.Equal(t, []string{"attempt retrying", "nak 5s"}, m.ev.all()[before:])
	require.Contains(t, lastAttempt(t, m.js).Error, "connection refused")
	require.NotContains(t, lastAttempt(t, m.js).Error, r.URL, "the URL (it may carry a token) is not in the error")
}

// A target the policy does not allow is never connected to: refused,
// not retried — a loopback URL, and a name that resolves to loopback now
// (rebinding), without the operator's allowance.
func TestWebhookRefusedTargetIsNeverCalled(t *testing.T) {
	m := newHookMachine(t, "5s,1h")
	r := newReceiver(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(r.URL, "http://"), ":")
	m.w.client = webhookClient(2*time.Second, func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})
	for _, tc := range []struct {
		name, url string
		p         webhook.Policy
		want      string
	}{
		{"loopback over http", r.URL + "/hook", webhook.Policy{}, "http is allowed only"},
		{"loopback, https required", "https://127.0.0.1:" + port + "/hook", webhook.Policy{AllowedHosts: []string{"other.example"}}, "127.0.0.1 is a loopback address"},
		{"rebinding", "https://rebind.example.com:" + port + "/hook", webhook.Policy{}, "rebind.example.com resolves to a loopback address (127.0.0.1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(m.ev.all())
			m.handle(t, testEvent(tc.url, tc.p), 1, time.Now())
			require.Equal(t, []string{"attempt refused", "term target refused"}, m.ev.all()[before:])
			require.Contains(t, lastAttempt(t, m.js).Error, tc.want)
		})
	}
	require.Equal(t, 0, r.count(), "no refused target was called")
}

// A forged event is terminated unreported; a revoked agent's is
// cancelled; one more than a day old is given up.
func TestWebhookForgedRevokedAndExpired(t *testing.T) {
	m := newHookMachine(t, "5s,1h")
	r := newReceiver(t)
	ev := testEvent(r.URL+"/hook", webhook.Policy{AllowedHosts: []string{"127.0.0.1"}})
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	m.handleSigned(t, ev, forger, 1, time.Now())
	require.Len(t, m.ev.all(), 1)
	require.True(t, strings.HasPrefix(m.ev.all()[0], "term webhook event refused"), m.ev.all()[0])

	m.handle(t, ev, 1, time.Now().Add(-25*time.Hour))
	require.Equal(t, []string{"attempt failed", "term expired"}, m.ev.all()[1:])

	delete(m.dir.agents, "billing-bot")
	m.dir.gone["billing-bot"] = true
	m.handle(t, ev, 1, time.Now())
	require.Equal(t, []string{"attempt cancelled", "ack"}, m.ev.all()[3:])
	require.Equal(t, 0, r.count())
}
