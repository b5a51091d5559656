package plugin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/webhook"
)

// resolveTo makes the backend resolve every host to addrs.
func resolveTo(tb *testBackend, addrs ...string) {
	tb.lookupIP = func(context.Context, string, string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

// storedKeys lists every storage key under prefix, recursively.
func storedKeys(t *testing.T, s logical.Storage, prefix string) []string {
	t.Helper()
	keys, err := logical.CollectKeysWithPrefix(context.Background(), s, prefix)
	require.NoError(t, err)
	return keys
}

// A webhook of an agent and of an org: made with a secret shown once,
// read and listed without it, changed, its secret rotated (shown once
// more), deleted — each change on the owner's audit trail, the secret
// sealed in storage.
func TestWebhookCreateReadListUpdateDelete(t *testing.T) {
	for _, base := range []string{"agents/bot", "orgs/acme"} {
		t.Run(base, func(t *testing.T) {
			tb := newTestBackend(t)
			tb.setup(t, "bot")
			resolveTo(tb, "93.184.216.34")
			resp := tb.ok(t, logical.CreateOperation, base+"/webhooks/crm", map[string]interface{}{
				"url": "https://hooks.example.com/mailgent", "events": "message.received,login.reported", "description": "CRM"})
			secret := resp.Data["secret"].(string)
			require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
			key, err := webhook.SecretKey(secret)
			require.NoError(t, err)
			require.Len(t, key, 32)
			require.Equal(t, []string{"message.received", "login.reported"}, resp.Data["events"])
			require.Equal(t, true, resp.Data["enabled"])

			for _, k := range storedKeys(t, tb.storage, webhookPrefix) {
				e, err := tb.storage.Get(context.Background(), k)
				require.NoError(t, err)
				require.NotContains(t, string(e.Value), strings.TrimPrefix(secret, "whsec_"), "the secret is sealed in storage")
			}
			read := tb.ok(t, logical.ReadOperation, base+"/webhooks/crm", nil)
			require.NotContains(t, read.Data, "secret", "a read never shows the secret")
			require.Equal(t, "https://hooks.example.com/mailgent", read.Data["url"])
			list := tb.ok(t, logical.ListOperation, base+"/webhooks/", nil)
			require.Equal(t, []string{"crm"}, list.Data["keys"])

			upd := tb.ok(t, logical.UpdateOperation, base+"/webhooks/crm", map[string]interface{}{"events": "message.sent", "enabled": false})
			require.NotContains(t, upd.Data, "secret")
			require.Equal(t, []string{"message.sent"}, upd.Data["events"])
			require.Equal(t, "CRM", upd.Data["description"], "fields not given are kept")
			require.Equal(t, false, upd.Data["enabled"])

			rot := tb.ok(t, logical.UpdateOperation, base+"/webhooks/crm/rotate-secret", nil)
			require.NotEqual(t, secret, rot.Data["secret"])
			require.True(t, strings.HasPrefix(rot.Data["secret"].(string), "whsec_"))

			tb.ok(t, logical.DeleteOperation, base+"/webhooks/crm", nil)
			require.Nil(t, tb.request(t, logical.ReadOperation, base+"/webhooks/crm", nil))
			require.Empty(t, storedKeys(t, tb.storage, webhookPrefix))

			events := tb.ok(t, logical.ReadOperation, base+"/audit", map[string]interface{}{"operation": "webhook.*"}).Data["events"].([]map[string]interface{})
			var ops []string
			for _, e := range events {
				ops = append(ops, e["operation"].(string))
				require.NotContains(t, e["detail"], "whsec_")
			}
			require.Equal(t, []string{opWebhookDelete, opWebhookRotate, opWebhookUpdate, opWebhookCreate}, ops)
		})
	}
}

// Bad input gets a 400 that names the field, and changes nothing: no
// webhook made, an existing one as it was.
func TestWebhookBadInputChangesNothing(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	resolveTo(tb, "93.184.216.34")
	tb.ok(t, logical.CreateOperation, "agents/bot/webhooks/crm", map[string]interface{}{"url": "https://hooks.example.com/a", "events": "message.received"})
	before := tb.ok(t, logical.ReadOperation, "agents/bot/webhooks/crm", nil).Data
	good := func(extra map[string]interface{}) map[string]interface{} {
		d := map[string]interface{}{"url": "https://hooks.example.com/b", "events": "message.received"}
		for k, v := range extra {
			d[k] = v
		}
		return d
	}
	for _, tc := range []struct {
		name, path string
		data       map[string]interface{}
		want       string
	}{
		{"unknown field", "agents/bot/webhooks/new", good(map[string]interface{}{"secret": "whsec_x"}), "secret: unknown field"},
		{"bad name", "agents/bot/webhooks/Bad!", good(nil), "name:"},
		{"no url", "agents/bot/webhooks/new", map[string]interface{}{"events": "message.received"}, "url: is required"},
		{"no events", "agents/bot/webhooks/new", map[string]interface{}{"url": "https://hooks.example.com/"}, "events: is required"},
		{"unknown event", "agents/bot/webhooks/new", good(map[string]interface{}{"events": "message.read"}), `events: "message.read" is not one of`},
		{"http", "agents/bot/webhooks/new", good(map[string]interface{}{"url": "http://hooks.example.com/"}), "url: webhook target refused: http"},
		{"loopback", "agents/bot/webhooks/new", good(map[string]interface{}{"url": "https://127.0.0.1:8443/"}), "url: webhook target refused: 127.0.0.1 is a loopback address"},
		{"private", "agents/bot/webhooks/new", good(map[string]interface{}{"url": "https://10.1.2.3/"}), "webhook_allow_private"},
		{"metadata service", "agents/bot/webhooks/new", good(map[string]interface{}{"url": "https://169.254.169.254/"}), "link-local"},
		{"credentials in URL", "agents/bot/webhooks/new", good(map[string]interface{}{"url": "https://u:p@hooks.example.com/"}), "url: must not carry credentials"},
		{"long description", "agents/bot/webhooks/new", good(map[string]interface{}{"description": strings.Repeat("x", 2000)}), "description:"},
		{"bad update", "agents/bot/webhooks/crm", map[string]interface{}{"url": "https://10.0.0.1/"}, "url: webhook target refused"},
		{"empty events", "agents/bot/webhooks/crm", map[string]interface{}{"events": ""}, "events: name at least one"},
		{"no such org", "orgs/nope/webhooks/new", good(nil), "org \"nope\" does not exist"},
		{"no such agent", "agents/nope/webhooks/new", good(nil), "agent \"nope\" does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.UpdateOperation, tc.path, tc.data)
			if err == nil {
				require.True(t, resp.IsError(), "accepted: %v", resp)
				err = resp.Error()
			}
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, []string{"webhooks/agent/bot/crm"}, storedKeys(t, tb.storage, webhookPrefix))
			require.Equal(t, before, tb.ok(t, logical.ReadOperation, "agents/bot/webhooks/crm", nil).Data)
		})
	}
	// A name that resolves to a private address now is refused as well.
	resolveTo(tb, "93.184.216.34", "10.9.9.9")
	resp := tb.request(t, logical.UpdateOperation, "agents/bot/webhooks/new", good(nil))
	require.ErrorContains(t, resp.Error(), "hooks.example.com resolves to a private address (10.9.9.9)")
}

// What the operator allows (config) is allowed: private addresses over
// https, named hosts over http; a host that does not resolve now is
// accepted with a warning. Bad config input changes nothing.
func TestWebhookTargetsTheOperatorAllows(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.lookupIP = func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"webhook_allow_private": true, "webhook_allowed_hosts": "127.0.0.1, Receiver.Internal"})
	cfg := tb.ok(t, logical.ReadOperation, "config", nil).Data
	require.Equal(t, true, cfg["webhook_allow_private"])
	require.Equal(t, []string{"127.0.0.1", "receiver.internal"}, cfg["webhook_allowed_hosts"])
	for name, u := range map[string]string{"private": "https://10.1.2.3/", "loopback": "http://127.0.0.1:9000/hook", "named": "http://receiver.internal/hook"} {
		tb.ok(t, logical.CreateOperation, "agents/bot/webhooks/"+name, map[string]interface{}{"url": u, "events": "message.received"})
	}
	resp := tb.ok(t, logical.CreateOperation, "agents/bot/webhooks/later", map[string]interface{}{"url": "https://not-yet.example.com/", "events": "message.received"})
	require.Contains(t, strings.Join(resp.Warnings, " "), "does not resolve now")

	resp = tb.request(t, logical.UpdateOperation, "config", map[string]interface{}{"webhook_allowed_hosts": "a host"})
	require.ErrorContains(t, resp.Error(), `webhook_allowed_hosts: "a host" is neither`)
	require.Equal(t, cfg["webhook_allowed_hosts"], tb.ok(t, logical.ReadOperation, "config", nil).Data["webhook_allowed_hosts"])
}

// hookRig is a backend with a registered relay and a connected bus whose
// publishes are recorded.
type hookRig struct {
	*consumerRig
	js    *fakeJetStream
	relay *bus.RelayKey
}

func newHookRig(t *testing.T) *hookRig {
	t.Helper()
	r := &hookRig{consumerRig: newConsumerRig(t), js: &fakeJetStream{}}
	resolveTo(r.tb, "93.184.216.34")
	var reg map[string]interface{}
	r.relay, reg = registration(t)
	r.tb.ok(t, logical.CreateOperation, "config/relays/relay-1", reg)
	r.tb.setConnectedBus(&jetStreamBus{js: r.js, inboundBlobs: r.obs})
	return r
}

// hook makes a webhook and returns its secret.
func (r *hookRig) hook(t *testing.T, path, events string) string {
	t.Helper()
	return r.tb.ok(t, logical.CreateOperation, path, map[string]interface{}{"url": "https://hooks.example.com/" + path, "events": events}).Data["secret"].(string)
}

// events opens what was published as the relay does.
func (r *hookRig) events(t *testing.T) []*bus.WebhookEvent {
	t.Helper()
	signer, err := r.tb.readBusSigningKey(context.Background(), r.tb.storage)
	require.NoError(t, err)
	var out []*bus.WebhookEvent
	for _, m := range r.js.messages() {
		require.Equal(t, bus.WebhookSubject(testDomain), m.Subject)
		ev, err := bus.OpenWebhook(testDomain, m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(bus.HeaderSeal), m.Data, signer.Public().(ed25519.PublicKey), r.relay)
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

// One event per enabled webhook that subscribes to its type, the agent's
// and its org's, each with its own secret and a stable ID; the summary of
// the message, never its body. A redelivery publishes the same IDs again
// (JetStream keeps one). Sent mail and login reports come the same way.
func TestWebhookEventsPerMatchingWebhook(t *testing.T) {
	r := newHookRig(t)
	agentSecret := r.hook(t, "agents/bot/webhooks/mine", "message.received")
	orgSecret := r.hook(t, "orgs/acme/webhooks/all", "message.received,login.reported,message.sent")
	r.hook(t, "agents/bot/webhooks/sentonly", "message.sent")
	r.hook(t, "agents/bot/webhooks/off", "message.received")
	r.tb.ok(t, logical.UpdateOperation, "agents/bot/webhooks/off", map[string]interface{}{"enabled": false})

	m := r.message(t, "bot", "Your code", false)
	r.handle(m)
	require.Equal(t, []string{"ack"}, m.log())
	evs := r.events(t)
	require.Len(t, evs, 2)
	secrets := map[string]string{"agent/bot/mine": agentSecret, "org/acme/all": orgSecret}
	for _, ev := range evs {
		require.Equal(t, secrets[ev.Webhook], ev.Secret, ev.Webhook)
		require.Equal(t, webhook.MessageReceived, ev.Type)
		require.True(t, webhook.ValidEventID(ev.ID))
		require.Equal(t, "https://hooks.example.com/"+map[string]string{"agent/bot/mine": "agents/bot/webhooks/mine", "org/acme/all": "orgs/acme/webhooks/all"}[ev.Webhook], ev.URL)
		var p struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(ev.Body, &p))
		require.Equal(t, "message.received", p.Type)
		require.Equal(t, "bot", p.Data["agent"])
		require.Equal(t, "a@x.example", p.Data["sender"])
		require.Equal(t, "x.example", p.Data["sender_domain"])
		require.Equal(t, "verified", p.Data["trust"])
		require.Equal(t, "Your code", p.Data["subject"])
		require.NotContains(t, string(ev.Body), "your code is", "never the body")
	}
	require.NotEqual(t, evs[0].ID, evs[1].ID)

	r.handle(r.message(t, "bot", "Your code", false)) // redelivered
	again := r.events(t)[2:]
	require.ElementsMatch(t, []string{evs[0].ID, evs[1].ID}, []string{again[0].ID, again[1].ID}, "a redelivery has the same IDs")

	// A login report: only the org's webhook subscribes.
	r.tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"username": "bot", "password": "s3cret-pass"})
	r.tb.ok(t, logical.UpdateOperation, "agents/bot/creds/site/login", map[string]interface{}{"outcome": "success"})
	login := r.events(t)[4:]
	require.Len(t, login, 1)
	require.Equal(t, webhook.LoginReported, login[0].Type)
	require.Equal(t, "org/acme/all", login[0].Webhook)
	require.NotContains(t, string(login[0].Body), "s3cret-pass")
}

// A delivery result that ends a sent message tells the subscribed
// webhooks once per status: message.sent.
func TestWebhookMessageSent(t *testing.T) {
	r := newHookRig(t)
	r.hook(t, "agents/bot/webhooks/sent", "message.sent,message.failed")
	ctx := context.Background()
	st, err := r.tb.loadAgent(ctx, r.tb.storage, "bot")
	require.NoError(t, err)
	id := "0000000000000000001-aaaaaaaaaaaa"
	require.NoError(t, r.tb.writeSent(ctx, r.tb.storage, st, &sentRecord{ID: id, MessageID: "m@x", To: []string{"a@x.example"}, Subject: "hi", Status: bus.StatusQueued}))
	for _, status := range []string{bus.StatusDeferred, bus.StatusSent} {
		data, _ := json.Marshal(&bus.DeliveryStatus{ID: id, Agent: "bot", Status: status, Reply: "250 ok", Attempt: 1, At: time.Now()})
		m := &fakeMsg{header: nats.Header{}, data: data}
		r.tb.handleStatus(ctx, r.tb.storage, m)
		require.Equal(t, []string{"ack"}, m.log())
	}
	evs := r.events(t)
	require.Len(t, evs, 1, "deferred is not an event")
	require.Equal(t, webhook.MessageSent, evs[0].Type)
	require.Contains(t, string(evs[0].Body), `"reply":"250 ok"`)
}

// With the bus down an event waits in the outbox, and is published when
// the bus work drains it.
func TestWebhookEventsWaitInTheOutbox(t *testing.T) {
	r := newHookRig(t)
	r.hook(t, "agents/bot/webhooks/logins", "login.reported")
	r.tb.setConnectedBus(nil)
	r.tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"username": "bot"})
	r.tb.ok(t, logical.UpdateOperation, "agents/bot/creds/site/login", map[string]interface{}{"outcome": "failure"})
	require.Len(t, storedKeys(t, r.tb.storage, webhookOutboxPrefix), 1)
	require.Empty(t, r.js.messages())

	r.tb.setConnectedBus(&jetStreamBus{js: r.js})
	require.NoError(t, r.tb.drainOutbox(context.Background(), r.tb.storage))
	require.Empty(t, storedKeys(t, r.tb.storage, webhookOutboxPrefix))
	evs := r.events(t)
	require.Len(t, evs, 1)
	require.Contains(t, string(evs[0].Body), `"outcome":"failure"`)
}

// The relays' attempts are listed per webhook, newest first, paged; an
// attempt for a webhook that is gone is dropped, one that is not an
// attempt is terminated.
func TestWebhookDeliveriesListAttempts(t *testing.T) {
	r := newHookRig(t)
	r.hook(t, "agents/bot/webhooks/crm", "message.received")
	ctx := context.Background()
	h, err := r.tb.findHook(ctx, r.tb.storage, hookOwner{subjectAgent, "bot"}, "crm")
	require.NoError(t, err)
	id := webhook.EventID(h.ID, "message.received/x")
	t0 := time.Unix(1_800_000_000, 0).UTC()
	next := t0.Add(5 * time.Second)
	attempt := func(a bus.WebhookAttempt) []string {
		data, _ := json.Marshal(&a)
		m := &fakeMsg{header: nats.Header{}, data: data}
		r.tb.handleWebhookStatus(ctx, r.tb.storage, m)
		return m.log()
	}
	base := bus.WebhookAttempt{EventID: id, Type: webhook.MessageReceived, Agent: "bot", Webhook: "agent/bot/crm", WebhookID: h.ID}
	first, second := base, base
	first.Attempt, first.Outcome, first.Error, first.At, first.NextRetry = 1, bus.AttemptRetrying, "dial tcp: connection refused", t0, &next
	second.Attempt, second.Outcome, second.StatusCode, second.At = 2, bus.AttemptDelivered, 204, next
	require.Equal(t, []string{"ack"}, attempt(first))
	require.Equal(t, []string{"ack"}, attempt(second))
	require.Equal(t, []string{"ack"}, attempt(second), "a repeated report is one entry")
	gone := base
	gone.WebhookID, gone.Attempt, gone.Outcome, gone.At = "another-incarnation", 1, bus.AttemptDelivered, t0
	require.Equal(t, []string{"ack"}, attempt(gone))
	bad := base
	bad.Webhook, bad.Attempt, bad.Outcome, bad.At = "agent/../crm", 1, bus.AttemptDelivered, t0
	require.Equal(t, []string{"term webhook owner is not a name"}, attempt(bad))

	list := r.tb.ok(t, logical.ReadOperation, "agents/bot/webhooks/crm/deliveries", nil).Data["deliveries"].([]map[string]interface{})
	require.Len(t, list, 2)
	require.Equal(t, 2, list[0]["attempt"])
	require.Equal(t, 204, list[0]["status_code"])
	require.Equal(t, bus.AttemptRetrying, list[1]["outcome"])
	require.Equal(t, next.Format(time.RFC3339Nano), list[1]["next_retry"])
	require.Equal(t, "dial tcp: connection refused", list[1]["error"])

	page := r.tb.ok(t, logical.ReadOperation, "agents/bot/webhooks/crm/deliveries", map[string]interface{}{"limit": 1}).Data
	require.Len(t, page["deliveries"], 1)
	rest := r.tb.ok(t, logical.ReadOperation, "agents/bot/webhooks/crm/deliveries", map[string]interface{}{"after": page["next_cursor"]}).Data
	require.Equal(t, 1, rest["deliveries"].([]map[string]interface{})[0]["attempt"])
	require.ErrorContains(t, r.tb.request(t, logical.ReadOperation, "agents/bot/webhooks/crm/deliveries", map[string]interface{}{"after": "x"}).Error(), "after:")
}

// A revoked agent's webhooks and attempts are swept with the rest of it.
func TestWebhooksOfARevokedAgentAreSwept(t *testing.T) {
	r := newHookRig(t)
	r.hook(t, "agents/bot/webhooks/crm", "message.received")
	r.tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	require.NoError(t, r.tb.sweepRevoked(context.Background(), r.tb.storage))
	require.Empty(t, storedKeys(t, r.tb.storage, webhookPrefix))
	_, err := r.tb.do(logical.ReadOperation, "agents/bot/webhooks/crm", nil)
	require.ErrorContains(t, err, "revoked")
}
