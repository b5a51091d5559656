package plugin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jhillyerd/enmime/v2"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// sendRig is a backend with agent "bot", a registered relay (its key here)
// and a connected bus whose JetStream is faked.
type sendRig struct {
	tb    *testBackend
	js    *fakeJetStream
	obs   *fakeObjectStore
	relay *bus.RelayKey
}

func newSendRig(t *testing.T) *sendRig {
	t.Helper()
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	relay, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	pub, err := relay.Public()
	require.NoError(t, err)
	reg := pub.Registration()
	tb.ok(t, logical.CreateOperation, "config/relays/relay-1", map[string]interface{}{"signing_key": reg["signing_key"], "sealing_key": reg["sealing_key"]})
	r := &sendRig{tb: tb, js: &fakeJetStream{}, obs: newFakeObjectStore(), relay: relay}
	tb.setConnectedBus(&jetStreamBus{js: r.js, outboundBlobs: r.obs})
	return r
}

// queued opens what was published as the registered relay does: it must
// carry the plugin's signature and open with the relay's key.
func (r *sendRig) queued(t *testing.T) []*bus.Outbound {
	t.Helper()
	signer, err := r.tb.readBusSigningKey(context.Background(), r.tb.storage)
	require.NoError(t, err)
	var out []*bus.Outbound
	for _, m := range r.js.messages() {
		require.Equal(t, bus.OutboundSubject(testDomain), m.Subject)
		data := m.Data
		if blob := m.Header.Get(bus.HeaderBlob); blob != "" {
			data = r.obs.objects[blob]
		}
		o, err := bus.OpenOutbound(testDomain, m.Header.Get("Nats-Msg-Id"), m.Header.Get(bus.HeaderSeal), data, signer.Public().(ed25519.PublicKey), r.relay)
		require.NoError(t, err)
		out = append(out, o)
	}
	return out
}

// sentKeys lists bot's sent records in storage.
func (r *sendRig) sentKeys(t *testing.T) []string {
	t.Helper()
	keys, err := r.tb.storage.List(context.Background(), sentPrefix+"bot/")
	require.NoError(t, err)
	return keys
}

// dkimVerifies checks every DKIM signature of raw against the records
// config/dkim publishes.
func (r *sendRig) dkimVerifies(t *testing.T, raw []byte) {
	t.Helper()
	records := map[string]string{}
	for _, k := range r.tb.ok(t, logical.ReadOperation, "config/dkim", nil).Data["keys"].([]map[string]interface{}) {
		records[k["dns_name"].(string)] = k["dns_txt"].(string)
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := records[name]; ok {
				return []string{v}, nil
			}
			return nil, fmt.Errorf("no TXT for %s", name)
		},
	})
	require.NoError(t, err)
	require.Len(t, verifs, 2)
	for _, v := range verifs {
		require.NoError(t, v.Err)
		require.Equal(t, testDomain, v.Domain)
	}
}

// A send queues one message — DKIM-signed, signed by the plugin and sealed
// to the registered relay — with one envelope recipient each, records it
// as queued and audits it.
func TestSendQueuesSignedSealedMessage(t *testing.T) {
	r := newSendRig(t)
	csv := []byte("region,revenue\nEMEA,1200000\n")
	resp := r.tb.ok(t, logical.UpdateOperation, "agents/bot/send", map[string]interface{}{
		"to":          []string{"Finance <finance@corp.example>", "FINANCE@corp.example"},
		"cc":          "controller@corp.example",
		"bcc":         []string{"audit@corp.example"},
		"subject":     "Q3",
		"text":        "attached",
		"attachments": []interface{}{map[string]interface{}{"filename": "q3.csv", "content_type": "text/csv", "content": base64.StdEncoding.EncodeToString(csv)}},
	})
	require.Equal(t, bus.StatusQueued, resp.Data["status"])
	require.Equal(t, "bot@"+testDomain, resp.Data["from"])
	require.Equal(t, []string{"finance@corp.example"}, resp.Data["to"], "one copy per recipient")

	queued := r.queued(t)
	require.Len(t, queued, 1)
	o := queued[0]
	require.Equal(t, resp.Data["id"], o.ID)
	require.Equal(t, resp.Data["message_id"], o.MessageID)
	require.Equal(t, "bot", o.Agent)
	require.Equal(t, "bot@"+testDomain, o.MailFrom)
	require.Equal(t, []string{"finance@corp.example", "controller@corp.example", "audit@corp.example"}, o.Rcpts)
	r.dkimVerifies(t, o.Raw)
	env, err := enmime.ReadEnvelope(bytes.NewReader(o.Raw))
	require.NoError(t, err)
	require.Equal(t, "Q3", env.GetHeader("Subject"))
	require.Empty(t, env.GetHeader("Bcc"), "bcc is envelope only")
	require.Equal(t, csv, env.Attachments[0].Content)

	rec := r.tb.ok(t, logical.ReadOperation, "agents/bot/sent/"+o.ID, nil)
	require.Equal(t, bus.StatusQueued, rec.Data["status"])
	require.Equal(t, len(o.Raw), rec.Data["size"])
	requireEvent(t, r.tb, "bot", opMessageSend, outcomeSuccess)
}

// A reply carries In-Reply-To and References from the message it answers,
// and its subject when none is given.
func TestSendThreadsAReply(t *testing.T) {
	r := newSendRig(t)
	st, err := r.tb.loadAgent(context.Background(), r.tb.storage, "bot")
	require.NoError(t, err)
	msg := &mailmsg.Message{ID: msgID(1), ReceivedAt: r.tb.now(), From: "a@corp.example", FromAddress: "a@corp.example",
		Subject: "Q3 numbers?", MessageID: "q3@corp.example", References: []string{"earlier@corp.example"}}
	js, err := json.Marshal(msg)
	require.NoError(t, err)
	head := msg.Head()
	sum, _, err := r.tb.storeMessage(context.Background(), r.tb.storage, st, &head, js, []byte("Subject: Q3 numbers?\r\n\r\n?"), nil)
	require.NoError(t, err)

	resp := r.tb.ok(t, logical.UpdateOperation, "agents/bot/send", map[string]interface{}{"to": "a@corp.example", "text": "here", "in_reply_to": sum.Key})
	require.Equal(t, "Re: Q3 numbers?", resp.Data["subject"])
	env, err := enmime.ReadEnvelope(bytes.NewReader(r.queued(t)[0].Raw))
	require.NoError(t, err)
	require.Equal(t, "<q3@corp.example>", env.GetHeader("In-Reply-To"))
	require.Equal(t, "<earlier@corp.example> <q3@corp.example>", env.GetHeader("References"))
	require.Equal(t, "Re: Q3 numbers?", env.GetHeader("Subject"))
	require.Equal(t, 1, r.tb.ok(t, logical.ReadOperation, "agents/bot", nil).Data["messages_unread"], "answering does not mark read")
}

// Refused sends: each answers its status, queues nothing and records no
// sent message; only the rate limit's 429 (and a revoked agent's 410) is
// on the audit trail.
func TestSendRefusals(t *testing.T) {
	ok := map[string]interface{}{"to": "a@corp.example", "text": "hi"}
	cases := []struct {
		name    string
		prepare func(t *testing.T, r *sendRig)
		data    map[string]interface{}
		status  int
		text    string
		denied  bool
	}{
		{name: "from given", data: map[string]interface{}{"to": "a@corp.example", "text": "hi", "from": "ceo@corp.example"}, status: 400, text: "from: refused"},
		{name: "no recipient", data: map[string]interface{}{"text": "hi"}, status: 400, text: "to: at least one recipient"},
		{name: "header injection", data: map[string]interface{}{"to": "a@corp.example", "subject": "x\r\nBcc: evil@x.example", "text": "hi"}, status: 400, text: "subject:"},
		{name: "not in the allowlist", data: map[string]interface{}{"to": "a@corp.example", "bcc": "leak@else.example", "text": "hi"}, status: 403,
			text: `bcc: leak@else.example is not in agent "bot"'s send allowlist`,
			prepare: func(t *testing.T, r *sendRig) {
				r.tb.ok(t, logical.UpdateOperation, "agents/bot", map[string]interface{}{"send_allowlist": "corp.example"})
			}},
		{name: "in_reply_to unknown", data: map[string]interface{}{"to": "a@corp.example", "text": "hi", "in_reply_to": inboxKey(time.Now(), msgID(7))}, status: 400, text: "in_reply_to: agent"},
		{name: "bus not connected", data: ok, status: 503, text: "the mail bus is not connected",
			prepare: func(t *testing.T, r *sendRig) { r.tb.setConnectedBus(nil) }},
		{name: "no relay registered", data: ok, status: 503, text: "no relay is registered",
			prepare: func(t *testing.T, r *sendRig) { r.tb.ok(t, logical.DeleteOperation, "config/relays/relay-1", nil) }},
		{name: "JetStream does not take it", data: ok, status: 503, text: "the mail bus did not take the message",
			prepare: func(t *testing.T, r *sendRig) { r.js.err = errors.New("no responders") }},
		{name: "rate limit reached", data: ok, status: 429, text: "send_rate_limit of 1", denied: true,
			prepare: func(t *testing.T, r *sendRig) {
				r.tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"send_rate_limit": 1})
				r.tb.ok(t, logical.UpdateOperation, "agents/bot/send", map[string]interface{}{"to": "a@corp.example", "text": "first"})
			}},
		{name: "revoked agent", data: ok, status: 410, text: "was revoked", denied: true,
			prepare: func(t *testing.T, r *sendRig) { r.tb.ok(t, logical.DeleteOperation, "agents/bot", nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSendRig(t)
			if tc.prepare != nil {
				tc.prepare(t, r)
			}
			queuedBefore, sentBefore := len(r.js.messages()), r.sentKeys(t)
			resp, err := r.tb.do(logical.UpdateOperation, "agents/bot/send", tc.data)
			status, text := vaultStatus(logical.UpdateOperation, resp, err)
			require.Equal(t, tc.status, status, text)
			require.Contains(t, text, tc.text)
			require.Len(t, r.js.messages(), queuedBefore, "nothing queued")
			require.Equal(t, sentBefore, r.sentKeys(t), "no sent record")
			if tc.denied {
				requireEvent(t, r.tb, "bot", opMessageSend, outcomeDenied)
			} else if tc.status != 410 {
				events := r.tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": opMessageSend}).Data["events"].([]map[string]interface{})
				for _, e := range events {
					require.Equal(t, outcomeSuccess, e["outcome"], "a refused send is not recorded")
				}
			}
		})
	}
}

// The rate limit counts per clock hour: the next hour sends again.
func TestSendRateLimitIsPerHour(t *testing.T) {
	r := newSendRig(t)
	now := time.Date(2026, 11, 26, 12, 59, 0, 0, time.UTC)
	r.tb.now = func() time.Time { return now }
	r.tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"send_rate_limit": 1})
	send := func() int {
		resp, err := r.tb.do(logical.UpdateOperation, "agents/bot/send", map[string]interface{}{"to": "a@corp.example", "text": "hi"})
		status, _ := vaultStatus(logical.UpdateOperation, resp, err)
		return status
	}
	require.Equal(t, http.StatusOK, send())
	require.Equal(t, http.StatusTooManyRequests, send())
	now = now.Add(2 * time.Minute)
	require.Equal(t, http.StatusOK, send())
	require.Len(t, r.queued(t), 2)
}

// requireEvent finds the agent's newest event for op, and checks its
// outcome.
func requireEvent(t *testing.T, tb *testBackend, agent, op, outcome string) {
	t.Helper()
	events := tb.ok(t, logical.ReadOperation, "agents/"+agent+"/audit", map[string]interface{}{"operation": op}).Data["events"].([]map[string]interface{})
	require.NotEmpty(t, events, "no %s event", op)
	require.Equal(t, outcome, events[0]["outcome"], strings.Join([]string{op, fmt.Sprint(events[0])}, ": "))
}
