package integration

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// hookDelivery is one request a receiver got.
type hookDelivery struct {
	at     time.Time
	header http.Header
	body   []byte
}

// hookReceiver is a webhook endpoint on loopback that can go down and
// come back on the same address.
type hookReceiver struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
	got  []hookDelivery
}

func newHookReceiver(t *testing.T) *hookReceiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &hookReceiver{addr: l.Addr().String()}
	r.serve(l)
	t.Cleanup(r.stop)
	return r
}

func (r *hookReceiver) url() string { return "http://" + r.addr + "/mailgent" }

func (r *hookReceiver) serve(l net.Listener) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookDelivery{at: time.Now(), header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// stop closes the listener: connections are refused until start.
func (r *hookReceiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *hookReceiver) start(t *testing.T) {
	l, err := net.Listen("tcp", r.addr)
	require.NoError(t, err)
	r.serve(l)
}

func (r *hookReceiver) deliveries() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookDelivery(nil), r.got...)
}

// waitFor waits until a delivery of typ has come, and returns it.
func (r *hookReceiver) waitFor(t *testing.T, typ string, timeout time.Duration) hookDelivery {
	t.Helper()
	var found hookDelivery
	require.Eventually(t, func() bool {
		for _, d := range r.deliveries() {
			if payloadOf(t, d).Type == typ {
				found = d
				return true
			}
		}
		return false
	}, timeout, 10*time.Millisecond, "no %s delivery", typ)
	return found
}

type hookPayload struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

func payloadOf(t *testing.T, d hookDelivery) hookPayload {
	var p hookPayload
	require.NoError(t, json.Unmarshal(d.body, &p), string(d.body))
	return p
}

// sendAt delivers raw over SMTP and returns when the relay's 250 to DATA
// was read.
func (s *inboundStack) sendAt(from, to string, raw []byte) time.Time {
	s.t.Helper()
	raw = s.service.Sign(raw)
	c, err := smtp.Dial(s.Relay.Addr)
	require.NoError(s.t, err)
	defer c.Close()
	require.NoError(s.t, c.Hello("sender.example.org"))
	require.NoError(s.t, c.Mail(from))
	require.NoError(s.t, c.Rcpt(to))
	w, err := c.Data()
	require.NoError(s.t, err)
	_, err = w.Write(raw)
	require.NoError(s.t, err)
	require.NoError(s.t, w.Close()) // returns once the 250 is read
	at := time.Now()
	_ = c.Quit()
	return at
}

// pythonVerify checks a delivery with the Python SDK's verifier (the
// secret by environment, never a command line); it returns the verifier's
// error, "" when the delivery verifies.
func pythonVerify(t *testing.T, secret string, d hookDelivery) string {
	t.Helper()
	in, err := json.Marshal(map[string]any{"headers": map[string]string{
		"webhook-id": d.header.Get("webhook-id"), "webhook-timestamp": d.header.Get("webhook-timestamp"), "webhook-signature": d.header.Get("webhook-signature"),
	}, "body": base64.StdEncoding.EncodeToString(d.body)})
	require.NoError(t, err)
	cmd := exec.Command(systemPython, "-c", `
import base64, json, os, sys
from mailgent.webhooks import verify, WebhookVerificationError
req = json.load(sys.stdin)
try:
    verify(os.environ["MAILGENT_WEBHOOK_SECRET"], req["headers"], base64.b64decode(req["body"]))
    print("verified")
except WebhookVerificationError as e:
    print("refused:", e)
`)
	cmd.Env = append(pythonEnv(t, filepath.Join(harness.RepoRoot(t), "sdk", "python")), "MAILGENT_WEBHOOK_SECRET="+secret)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	if strings.TrimSpace(string(out)) == "verified" {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// The retry schedule the test's relay runs with: a receiver down for a
// minute is tried at 0, 2, 7, 17, 37 and 67 s.
const testWebhookRetry = "2s,5s,10s,20s,30s,1h"

// TestWebhooksOnTheRealStack: real Vault, nats-server and relay; receivers
// on loopback (the operator allows 127.0.0.1 in the config).
//
//   - message.received reaches the agent's and its org's webhooks within a
//     second of the relay's 250, verifies with the Python SDK and with the
//     Standard Webhooks Go library, and carries the summary, never the body;
//   - login.reported and message.sent come the same way;
//   - a receiver down for a minute gets its event after it returns, once
//     per ID, and the deliveries listing shows the attempts;
//   - private targets are refused when the webhook is written, and at
//     delivery once the operator no longer allows them.
func TestWebhooksOnTheRealStack(t *testing.T) {
	f := startHookFixture(t)
	t.Run("message.received within a second, verified", f.receivedWithinASecond)
	t.Run("login.reported and message.sent", f.loginAndSent)
	t.Run("receiver down for a minute", f.receiverDownForAMinute)
	t.Run("private targets refused", f.privateTargetsRefused)
}

// hookFixture is the stack of TestWebhooksOnTheRealStack: agent hook-bot
// of org acme, a webhook of each with a receiver, and their secrets.
type hookFixture struct {
	s                 *inboundStack
	mine, org         *hookReceiver
	secret, orgSecret string
	to                string
}

func startHookFixture(t *testing.T) *hookFixture {
	s := &inboundStack{Stack: harness.StartStack(t, harness.StackOptions{RelayArgs: []string{"-webhook-retry", testWebhookRetry}}), t: t}
	s.service = s.DNS.Sender(t, serviceDomain, harness.SenderOptions{})
	s.rec = &recorder{t: t, addr: s.Vault.Addr}
	s.rec.must(s.Vault.Token, "POST", "mailgent/config", map[string]any{"webhook_allowed_hosts": "127.0.0.1"})
	s.rec.must(s.Vault.Token, "POST", "mailgent/orgs/acme", map[string]any{})
	s.createAgent("hook-bot")
	f := &hookFixture{s: s, mine: newHookReceiver(t), org: newHookReceiver(t), to: "hook-bot@" + s.Domain}
	f.secret = s.rec.must(s.Vault.Token, "POST", "mailgent/agents/hook-bot/webhooks/service", map[string]any{
		"url": f.mine.url(), "events": "message.received,message.sent,login.reported"})["secret"].(string)
	f.orgSecret = s.rec.must(s.Vault.Token, "POST", "mailgent/orgs/acme/webhooks/audit-feed", map[string]any{
		"url": f.org.url(), "events": "message.received"})["secret"].(string)
	read := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/service", nil)
	require.NotContains(t, read, "secret", "a read never shows the secret")
	return f
}

// receivedWithinASecond: the agent's and the org's webhooks get
// message.received within a second of the 250; both verifiers agree.
func (f *hookFixture) receivedWithinASecond(t *testing.T) {
	s, mine, org, secret, orgSecret, to := f.s.in(t), f.mine, f.org, f.secret, f.orgSecret, f.to
	at250 := s.sendAt("no-reply@service.example.com", to, verificationMail(to, "739142"))
	d := mine.waitFor(t, "message.received", 5*time.Second)
	o := org.waitFor(t, "message.received", 5*time.Second)
	latency := d.at.Sub(at250)
	t.Logf("250 → message.received at the receiver: %s (the org's webhook: %s)", latency.Round(time.Millisecond), o.at.Sub(at250).Round(time.Millisecond))
	require.Less(t, latency, time.Second)

	require.Empty(t, pythonVerify(t, secret, d), "the Python SDK verifies it")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(d.body, d.header), "the Standard Webhooks Go library verifies it")
	orgHook, err := standardwebhooks.NewWebhook(orgSecret)
	require.NoError(t, err)
	require.NoError(t, orgHook.Verify(o.body, o.header))
	require.Error(t, orgHook.Verify(d.body, d.header), "each webhook has its own secret")
	tampered := d
	tampered.body = []byte(strings.Replace(string(d.body), "739142", "000000", 1))
	require.Contains(t, pythonVerify(t, secret, tampered), "no valid v1 signature")

	p := payloadOf(t, d)
	require.Equal(t, "hook-bot", p.Data["agent"])
	require.Equal(t, "no-reply@service.example.com", p.Data["sender"])
	require.Equal(t, serviceDomain, p.Data["sender_domain"])
	require.Equal(t, "verified", p.Data["trust"])
	require.Equal(t, "Your Example verification code", p.Data["subject"])
	require.Contains(t, p.Data["codes"], "739142")
	require.NotContains(t, string(d.body), "It expires in 10 minutes", "never the body")
	require.Equal(t, "hook-bot", payloadOf(t, o).Data["agent"], "an org's webhook fires for its agents")
	require.NotEqual(t, d.header.Get("webhook-id"), o.header.Get("webhook-id"))
}

// loginAndSent: a login report and a sent message reach the agent's
// webhook, and only the types it asked for.
func (f *hookFixture) loginAndSent(t *testing.T) {
	s, mine, org, secret := f.s.in(t), f.mine, f.org, f.secret
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/hook-bot/creds/site", map[string]any{"username": "hook-bot", "password": "pw-not-in-events"})
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/hook-bot/creds/site/login", map[string]any{"outcome": "success"})
	d := mine.waitFor(t, "login.reported", 10*time.Second)
	require.Equal(t, "site", payloadOf(t, d).Data["credential"])
	require.NotContains(t, string(d.body), "pw-not-in-events")

	sent := s.rec.must(s.Vault.Token, "POST", "mailgent/agents/hook-bot/send", map[string]any{
		"to": []string{"finance@corp.example"}, "subject": "Report", "text": "Attached."})
	d = mine.waitFor(t, "message.sent", 30*time.Second)
	p := payloadOf(t, d)
	require.Equal(t, sent["id"], p.Data["id"])
	require.Contains(t, p.Data["reply"], "250")
	require.Empty(t, pythonVerify(t, secret, d))
	for _, o := range org.deliveries() {
		require.Equal(t, "message.received", payloadOf(t, o).Type, "the org's webhook asked for message.received only")
	}
}

// receiverDownForAMinute: retried while down, delivered once after it
// returns; the deliveries listing shows every attempt.
func (f *hookFixture) receiverDownForAMinute(t *testing.T) {
	s, mine, to := f.s.in(t), f.mine, f.to
	before := len(mine.deliveries())
	mine.stop()
	s.sendAt("no-reply@service.example.com", to, verificationMail(to, "271828"))
	time.Sleep(time.Minute)
	list := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/service/deliveries", nil)["deliveries"].([]any)
	var retrying int
	for _, a := range list {
		a := a.(map[string]any)
		if a["outcome"] == "retrying" {
			retrying++
			require.Contains(t, a["error"], "connection refused")
			require.NotEmpty(t, a["next_retry"])
		}
	}
	require.GreaterOrEqual(t, retrying, 4, "attempts while it was down: %v", list)

	mine.start(t)
	require.Eventually(t, func() bool { return len(mine.deliveries()) > before }, 45*time.Second, 50*time.Millisecond)
	time.Sleep(5 * time.Second) // a duplicate would come now
	got := mine.deliveries()
	p := payloadOf(t, got[len(got)-1])
	require.Contains(t, p.Data["codes"], "271828")
	ids := map[string]int{}
	for _, d := range got {
		ids[d.header.Get("webhook-id")]++
	}
	for id, n := range ids {
		require.Equal(t, 1, n, "event %s delivered %d times", id, n)
	}
	t.Logf("%d events, each delivered once; the one sent while the receiver was down came %d attempts in", len(ids), retrying+1)
	last := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/service/deliveries", map[string]any{"limit": 1})["deliveries"].([]any)[0].(map[string]any)
	require.Eventually(t, func() bool {
		last = s.rec.must(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/service/deliveries", nil)["deliveries"].([]any)[0].(map[string]any)
		return last["outcome"] == "delivered"
	}, 10*time.Second, 100*time.Millisecond, "%v", last)
	require.Equal(t, float64(204), last["status_code"])
	require.Greater(t, last["attempt"], float64(4))
}

// privateTargetsRefused: at write time, and at delivery once the
// operator no longer allows the target.
func (f *hookFixture) privateTargetsRefused(t *testing.T) {
	s, to := f.s.in(t), f.to
	for _, u := range []string{"http://127.0.0.2:8080/", "https://10.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/"} {
		st, body := s.rec.call(s.Vault.Token, "POST", "mailgent/agents/hook-bot/webhooks/private", map[string]any{"url": u, "events": "message.received"})
		require.Equal(t, http.StatusBadRequest, st, "%s: %v", u, body)
		require.Contains(t, body["errors"].([]any)[0], "url: webhook target refused", u)
	}
	st, _ := s.rec.call(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/private", nil)
	require.Equal(t, http.StatusNotFound, st, "nothing was made")

	// Allowed when written, no longer when delivered: refused, never called.
	late := newHookReceiver(t)
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/hook-bot/webhooks/late", map[string]any{"url": late.url(), "events": "message.received"})
	s.rec.must(s.Vault.Token, "POST", "mailgent/config", map[string]any{"webhook_allowed_hosts": ""})
	s.sendAt("no-reply@service.example.com", to, verificationMail(to, "161803"))
	var last map[string]any
	require.Eventually(t, func() bool {
		list := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/hook-bot/webhooks/late/deliveries", nil)["deliveries"].([]any)
		if len(list) == 0 {
			return false
		}
		last = list[0].(map[string]any)
		return true
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, "refused", last["outcome"], "%v", last)
	require.Contains(t, last["error"], "http is allowed only to a host the operator allows")
	require.Empty(t, late.deliveries(), "a refused target is never called")
}
