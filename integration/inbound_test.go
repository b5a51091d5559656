package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/onboard"
)

// inboundStack is the whole stack with an org and agents ready for mail.
type inboundStack struct {
	*harness.Stack
	t   *testing.T
	rec *recorder
	// service is the domain of verificationMail: it signs its mail with
	// DKIM, as real services do, and send signs with its key — once per
	// message: a sender's retry resends the signed bytes from its queue.
	service *harness.Sender
	signed  sync.Map // string(raw) → signed raw
}

// The test senders every stack's DNS serves: their mail is verified.
const (
	serviceDomain = "service.example.com" // DKIM, SPF (127.0.0.1), DMARC
	bankDomain    = "bank.example.net"    // SPF (127.0.0.1) and DMARC, no DKIM
	demoDomain    = "democloud.test"      // the sign-up demo's service: SPF and DMARC
)

func startInbound(t *testing.T, agents ...string) *inboundStack {
	t.Helper()
	s := &inboundStack{Stack: harness.Start(t), t: t}
	s.service = s.DNS.Sender(t, serviceDomain, harness.SenderOptions{})
	s.DNS.Sender(t, bankDomain, harness.SenderOptions{})
	s.DNS.Sender(t, demoDomain, harness.SenderOptions{})
	s.rec = &recorder{t: t, addr: s.Vault.Addr}
	s.rec.must(s.Vault.Token, "POST", "mailgent/orgs/acme", map[string]interface{}{})
	for _, a := range agents {
		s.createAgent(a)
	}
	return s
}

// onboardAgent gives an agent its identity as `mailgent onboard` does (in
// org acme, which startInbound made) and waits until the relay accepts its mail.
func (s *inboundStack) onboardAgent(ctx context.Context, name string) *onboard.Result {
	s.t.Helper()
	res, err := onboard.Run(ctx, s.Vault.Client, onboard.Options{Mount: "mailgent", Org: "acme", Agent: name})
	require.NoError(s.t, err)
	s.waitRcpt(name, 250)
	return res
}

// agentClient onboards an agent and logs it in with AppRole, unwrapping
// its secret ID, as the agent itself would.
func (s *inboundStack) agentClient(ctx context.Context, name string) (*onboard.Result, *client.Client) {
	s.t.Helper()
	res := s.onboardAgent(ctx, name)
	cfg := api.DefaultConfig()
	cfg.Address = s.Vault.Addr
	c, err := client.LoginAppRole(ctx, cfg, client.AppRole{Mount: "mailgent", Agent: name, RoleID: res.RoleID, WrappedSecretID: res.WrappingToken})
	require.NoError(s.t, err)
	return res, c
}

func (s *inboundStack) createAgent(name string) {
	s.t.Helper()
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/"+name, map[string]interface{}{"org": "acme"})
	s.waitRcpt(name, 250)
}

// waitRcpt polls the relay until RCPT for the agent answers code.
func (s *inboundStack) waitRcpt(agent string, code int) {
	s.t.Helper()
	var last error
	require.Eventually(s.t, func() bool {
		c, err := smtp.Dial(s.Relay.Addr)
		if err != nil {
			last = err
			return false
		}
		defer c.Close()
		if err := c.Mail("probe@example.org"); err != nil {
			last = err
			return false
		}
		err = c.Rcpt(agent + "@" + s.Domain)
		last = err
		if code == 250 {
			return err == nil
		}
		var te *textproto.Error
		return err != nil && errorsAs(err, &te) && te.Code == code
	}, 15*time.Second, 20*time.Millisecond, "RCPT %s never answered %d: %v", agent, code, last)
}

// jetStream is a JetStream client of the stack's nats-server as the
// plugin's user (everything but publishing inbound mail), closed when the
// test ends.
func (s *inboundStack) jetStream() jetstream.JetStream {
	s.t.Helper()
	return s.connect(s.NATS.Options("test"))
}

// relayBus is what a relay's NATS user has: its JetStream and bound handles.
func (s *inboundStack) relayBus() (jetstream.JetStream, *bus.Relay) {
	s.t.Helper()
	js := s.connect(s.NATS.RelayOptions("test-relay"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Bind(ctx, js)
	require.NoError(s.t, err)
	return js, b
}

func (s *inboundStack) connect(o bus.Options) jetstream.JetStream {
	s.t.Helper()
	nc, err := bus.Connect(o)
	require.NoError(s.t, err)
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(s.t, err)
	return js
}

// relayPayload is m's bus payload, as a relay makes it.
func relayPayload(t *testing.T, m mailmsg.Message, raw []byte) *bus.Payload {
	t.Helper()
	p, err := bus.NewPayload(&m, raw)
	require.NoError(t, err)
	return p
}

// relaySealer seals as the stack's registered relay does (its key).
func (s *inboundStack) relaySealer() *bus.Sealer {
	s.t.Helper()
	key, _, err := bus.LoadOrCreateRelayKey(s.Relay.KeyFile)
	require.NoError(s.t, err)
	return bus.NewSealer(key)
}

// inboundPublicKey is the key relays seal inbound mail to, from config.
func (s *inboundStack) inboundPublicKey() []byte {
	s.t.Helper()
	cfg := s.rec.must(s.Vault.Token, "GET", "mailgent/config", nil)
	pub, err := base64.StdEncoding.DecodeString(cfg["inbound_public_key"].(string))
	require.NoError(s.t, err)
	return pub
}

func errorsAs(err error, te **textproto.Error) bool {
	e, ok := err.(*textproto.Error)
	if ok {
		*te = e
	}
	return ok
}

// send delivers raw over SMTP with net/smtp and returns the DATA reply
// error. Mail whose From is serviceDomain is DKIM-signed by it first.
func (s *inboundStack) send(from, to string, raw []byte) error {
	if bytes.Contains(headerOf(raw), []byte("@"+serviceDomain+">")) && !bytes.Contains(headerOf(raw), []byte("DKIM-Signature:")) {
		signed, _ := s.signed.LoadOrStore(string(raw), s.service.Sign(raw))
		raw = signed.([]byte)
	}
	return harness.SendMail(s.Relay.Addr, nil, "sender.example.org", from, []string{to}, raw)
}

func (s *inboundStack) wait(agent, query string) (int, map[string]interface{}) {
	s.t.Helper()
	status, body := s.rec.call(s.Vault.Token, "GET", "mailgent/agents/"+agent+"/messages/wait?"+query, nil)
	data, _ := body["data"].(map[string]interface{})
	if status != 200 {
		data = body
	}
	return status, data
}

// headerOf is the header section of a raw message.
func headerOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i]
	}
	return raw
}

func verificationMail(to, code string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: Example Service <no-reply@service.example.com>
To: %s
Subject: Your Example verification code
Date: Thu, 26 Nov 2026 10:00:00 +0000
Message-ID: <%d@service.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hi,

Your verification code is %s. It expires in 10 minutes.
Call us at +1 415 555 0100 about order 20261126.

The Example team
`, to, time.Now().UnixNano(), code), "\n", "\r\n"))
}

func TestInboundVerificationMailReachesWait(t *testing.T) {
	s := startInbound(t, "signup-bot")
	to := "signup-bot@" + s.Domain

	// The agent asks first and waits; the mail arrives while it waits.
	type result struct {
		status int
		data   map[string]interface{}
	}
	done := make(chan result, 1)
	go func() {
		st, d := s.wait("signup-bot", "timeout=20&from=service.example.com")
		done <- result{st, d}
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	require.NoError(t, s.send("no-reply@service.example.com", to, verificationMail(to, "739142")))
	r := <-done
	require.Equal(t, http.StatusOK, r.status, "%v", r.data)
	t.Logf("end of DATA → wait returned: %s", time.Since(start))
	codes := r.data["codes"].([]interface{})
	require.Equal(t, "739142", codes[0].(map[string]interface{})["code"])
	require.Equal(t, "739142", r.data["code"])
	require.Equal(t, false, r.data["unread"], "wait marks the message read")
	require.Contains(t, r.data["extracted_text"], "739142")
	env := r.data["envelope"].(map[string]interface{})
	require.Equal(t, "no-reply@service.example.com", env["mail_from"])
	require.Equal(t, []interface{}{to}, env["rcpt_to"])

	// A real client: swaks. The message arrived before the call; it still
	// counts (the 60 s look-back).
	out, err := exec.Command("swaks", "--server", s.Relay.Addr, "--from", "security@bank.example.net", "--to", to,
		"--header", "Subject: Your login code", "--body", "Use 482913 to sign in. Never share it.", "--hide-all").CombinedOutput()
	require.NoError(t, err, string(out))
	st, d := s.wait("signup-bot", "timeout=10&from=bank.example.net")
	require.Equal(t, http.StatusOK, st, "%v", d)
	require.Equal(t, "482913", d["code"])

	// Counts are exact; the listing is newest first.
	agent := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/signup-bot", nil)
	require.Equal(t, float64(2), agent["messages_total"])
	require.Equal(t, float64(0), agent["messages_unread"])
	list := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/signup-bot/messages", nil)["messages"].([]interface{})
	require.Len(t, list, 2)
	require.Equal(t, "security@bank.example.net", list[0].(map[string]interface{})["from_address"])

	// Nothing new: wait answers 408 after its timeout.
	st, _ = s.wait("signup-bot", "timeout=1")
	require.Equal(t, http.StatusRequestTimeout, st)

	// Reads are audit events.
	events := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/signup-bot/audit?operation=message.*", nil)["events"].([]interface{})
	var ops []string
	for _, e := range events {
		ops = append(ops, e.(map[string]interface{})["operation"].(string))
	}
	require.Contains(t, ops, "message.wait")
	require.Contains(t, ops, "message.receive")
	require.Contains(t, ops, "message.list")
}

func TestInboundRefusalsAndRevocation(t *testing.T) {
	s := startInbound(t, "bot")
	c, err := smtp.Dial(s.Relay.Addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Mail("a@example.org"))
	requireSMTPCode(t, c.Rcpt("nobody@"+s.Domain), 550, "5.1.1")
	requireSMTPCode(t, c.Rcpt("victim@elsewhere.example"), 550, "5.7.1")
	require.NoError(t, c.Rcpt("bot@"+s.Domain))
	require.NoError(t, c.Quit())

	// Over-size, declared (SIZE=, as real MTAs do since SIZE is
	// advertised): 552 at MAIL FROM.
	tc, err := textproto.Dial("tcp", s.Relay.Addr)
	require.NoError(t, err)
	defer tc.Close()
	_, _, err = tc.ReadResponse(220)
	require.NoError(t, err)
	require.NoError(t, tc.PrintfLine("EHLO sender.example.org"))
	_, _, err = tc.ReadResponse(250)
	require.NoError(t, err)
	require.NoError(t, tc.PrintfLine("MAIL FROM:<a@example.org> SIZE=%d", 11<<20))
	code, msg, _ := tc.ReadResponse(250)
	require.Equal(t, 552, code, msg)
	// Over-size, undeclared: 552 at the end of DATA, and nothing stored.
	require.NoError(t, tc.PrintfLine("RSET"))
	_, _, err = tc.ReadResponse(250)
	require.NoError(t, err)
	require.NoError(t, tc.PrintfLine("MAIL FROM:<a@example.org>"))
	_, _, err = tc.ReadResponse(250)
	require.NoError(t, err)
	require.NoError(t, tc.PrintfLine("RCPT TO:<bot@%s>", s.Domain))
	_, _, err = tc.ReadResponse(250)
	require.NoError(t, err)
	require.NoError(t, tc.PrintfLine("DATA"))
	_, _, err = tc.ReadResponse(354)
	require.NoError(t, err)
	go func() {
		w := tc.DotWriter()
		_, _ = w.Write(append(verificationMail("bot@"+s.Domain, "111222"), bytes.Repeat([]byte(strings.Repeat("x", 998)+"\r\n"), 11<<10)...))
		_ = w.Close()
	}()
	code, msg, _ = tc.ReadResponse(250)
	require.Equal(t, 552, code, msg)
	require.True(t, strings.HasPrefix(msg, "5.3.4"), msg)
	agent := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)
	require.Equal(t, float64(0), agent["messages_total"])

	// Too many recipients: 452 past the limit (100 by default).
	rc, err := smtp.Dial(s.Relay.Addr)
	require.NoError(t, err)
	require.NoError(t, rc.Mail("a@example.org"))
	for i := 0; i < 100; i++ {
		require.NoError(t, rc.Rcpt("bot@"+s.Domain))
	}
	requireSMTPCode(t, rc.Rcpt("bot@"+s.Domain), 452, "4.5.3")
	// An over-long line: 500, the message refused.
	w, err := rc.Data()
	require.NoError(t, err)
	_, _ = w.Write([]byte("Subject: long\r\n\r\n" + strings.Repeat("y", 5000) + "\r\n"))
	err = w.Close()
	var lte *textproto.Error
	require.True(t, errorsAs(err, &lte), "%v", err)
	require.Equal(t, 500, lte.Code, lte.Msg)
	rc.Close()

	// Revocation: refused at RCPT within a second.
	s.rec.must(s.Vault.Token, "DELETE", "mailgent/agents/bot", nil)
	start := time.Now()
	s.waitRcpt("bot", 550)
	require.Less(t, time.Since(start), time.Second, "revoked agent still accepted after a second")
}

func TestInboundNoMailLost(t *testing.T) {
	s := startInbound(t, "bot")
	to := "bot@" + s.Domain

	// The same message twice (a sender retrying after a lost 250): one entry.
	raw := verificationMail(to, "246810")
	require.NoError(t, s.send("a@example.org", to, raw))
	require.NoError(t, s.send("a@example.org", to, raw))
	st, d := s.wait("bot", "timeout=10")
	require.Equal(t, 200, st, "%v", d)
	require.Eventually(t, func() bool {
		a := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)
		return a["messages_total"] == float64(1)
	}, 5*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	a := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)
	require.Equal(t, float64(1), a["messages_total"], "a duplicate publish is stored once")

	// nats-server down: DATA answers 451 (temporary), never 5xx…
	s.NATS.Stop()
	deferred := verificationMail(to, "135790")
	err := s.send("a@example.org", to, deferred)
	var te *textproto.Error
	require.True(t, errorsAs(err, &te), "%v", err)
	require.Equal(t, 451, te.Code, te.Msg)
	require.True(t, strings.HasPrefix(te.Msg, "4.3.0"), te.Msg)
	// …and the sender's retry (the same bytes, as an MTA's queue resends
	// them) succeeds once it is back — and is stored once, even if the
	// deferred attempt reached the stream after all.
	s.NATS.Start()
	s.NATS.WaitReady()
	require.Eventually(t, func() bool { return s.send("a@example.org", to, deferred) == nil }, 30*time.Second, 200*time.Millisecond)
	st, d = s.wait("bot", "timeout=20")
	require.Equal(t, 200, st, "%v", d)
	require.Equal(t, "135790", d["code"])

	// The relay killed right after its 250 loses nothing: 250 means JetStream has it.
	require.NoError(t, s.send("a@example.org", to, verificationMail(to, "975310")))
	s.Relay.Kill()
	st, d = s.wait("bot", "timeout=20")
	require.Equal(t, 200, st, "%v", d)
	require.Equal(t, "975310", d["code"])
}

func TestInboundRawRoundTripAndChunking(t *testing.T) {
	s := startInbound(t, "bot")
	to := "bot@" + s.Domain
	attachment := bytes.Repeat([]byte("PDFDATA-0123456789-"), 80_000) // ~1.5 MiB, past one NATS message and one storage chunk
	b64 := base64.StdEncoding.EncodeToString(attachment)
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\r\n")
	}
	messages := map[string]string{
		"html-only":      "From: Shop <shop@store.example>\r\nTo: " + to + "\r\nSubject: Confirm your email\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Confirm with code <b>551177</b></p><a href=\"https://store.example/verify?token=abc\">Verify</a></body></html>\r\n",
		"alternative":    "From: App <app@app.example>\r\nTo: " + to + "\r\nSubject: Sign in\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour code: 662288\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Your code: <strong>662288</strong></p>\r\n--b1--\r\n",
		"big-attachment": "From: Billing <billing@corp.example>\r\nTo: " + to + "\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n--m1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInvoice attached.\r\n--m1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrapped.String() + "--m1--\r\n",
	}
	for name, raw := range messages {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, s.send("x@example.org", to, []byte(raw)))
			st, d := s.wait("bot", "timeout=20&subject="+strings.ReplaceAll(strings.Split(strings.Split(raw, "Subject: ")[1], "\r\n")[0], " ", "%20"))
			require.Equal(t, 200, st, "%v", d)
			id := d["id"].(string)
			rawResp := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot/messages/"+id+"/raw", nil)
			got, err := base64.StdEncoding.DecodeString(rawResp["raw"].(string))
			require.NoError(t, err)
			require.Equal(t, raw, string(got), "raw source round-trips byte-exact")
			if name == "big-attachment" {
				atts := d["attachments"].([]interface{})
				require.Len(t, atts, 1)
				a := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot/messages/"+id+"/attachments/0", nil)
				require.Equal(t, "invoice.pdf", a["filename"])
				content, err := base64.StdEncoding.DecodeString(a["content"].(string))
				require.NoError(t, err)
				require.Equal(t, attachment, content)
			} else {
				require.NotEmpty(t, d["codes"])
			}
		})
	}
}

var _ = context.Background

func TestInboundPoisonAndMailForRevokedAgents(t *testing.T) {
	s := startInbound(t, "bot", "gone")
	ctx := context.Background()
	js, rb := s.relayBus()
	obs := rb.InboundBlobs
	pub := s.inboundPublicKey()

	// Poison: a payload that does not decrypt is terminated, not retried
	// forever, and the reason is logged.
	_, err := bus.Publish(ctx, js, obs, s.Domain, "bot", bus.MessageID(s.Domain, "bot", []byte("poison")), []byte("not sealed"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(s.Vault.Log(), "inbound message terminated") }, 10*time.Second, 50*time.Millisecond)

	// Sealed properly to the plugin's (public) key, but by a relay key no
	// operator registered: whoever holds relay NATS credentials cannot put
	// mail in an inbox. Terminated, with a denied event on bot's record.
	stranger, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	forgedRaw := verificationMail("bot@"+s.Domain, "999999")
	forgedID := bus.MessageID(s.Domain, "bot", forgedRaw)
	forged, err := bus.NewSealer(stranger).Seal(pub, s.Domain, "bot", relayPayload(t,
		mailmsg.Message{ID: forgedID, Subject: "DMARC pass, honest", Trust: mailmsg.TrustVerified}, forgedRaw))
	require.NoError(t, err)
	_, err = bus.Publish(ctx, js, obs, s.Domain, "bot", forgedID, forged)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		data := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot/audit?operation=message.receive", nil)
		for _, e := range data["events"].([]interface{}) {
			ev := e.(map[string]interface{})
			if ev["outcome"] == "denied" && ev["request_id"] == forgedID && strings.Contains(ev["detail"].(string), "not registered") {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "no denied event for the forged payload")
	require.Contains(t, s.Vault.Log(), "which is not registered")

	// A sealed payload replayed under another agent does not open either.
	raw := verificationMail("bot@"+s.Domain, "123456")
	id := bus.MessageID(s.Domain, "bot", raw)
	sealed, err := s.relaySealer().Seal(pub, s.Domain, "bot", relayPayload(t, mailmsg.Message{ID: id, Subject: "x"}, raw))
	require.NoError(t, err)
	_, err = bus.Publish(ctx, js, obs, s.Domain, "gone", id, sealed)
	require.NoError(t, err)

	// Mail that reaches the bus for an agent revoked meanwhile is dropped,
	// on the agent's record.
	s.rec.must(s.Vault.Token, "DELETE", "mailgent/agents/gone", nil)
	raw2 := verificationMail("gone@"+s.Domain, "654321")
	id2 := bus.MessageID(s.Domain, "gone", raw2)
	sealed2, err := s.relaySealer().Seal(pub, s.Domain, "gone", relayPayload(t, mailmsg.Message{ID: id2}, raw2))
	require.NoError(t, err)
	_, err = bus.Publish(ctx, js, obs, s.Domain, "gone", id2, sealed2)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		data := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/gone/audit?operation=message.receive", nil)
		for _, e := range data["events"].([]interface{}) {
			ev := e.(map[string]interface{})
			if ev["outcome"] == "denied" && ev["request_id"] == id2 {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)

	// The stream is drained: nothing stuck, nothing stored for bot.
	require.Eventually(t, func() bool {
		st, err := js.Stream(ctx, bus.InboundStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 50*time.Millisecond)
	agent := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)
	require.Equal(t, float64(0), agent["messages_total"])
}

// The plugin keeps each inbox's index (what is stored, what is unread) in
// memory and rebuilds it from Vault storage after a restart. After a
// plugin reload the counts are still exact, wait still finds unread mail,
// and a message delivered again after JetStream's duplicate window —
// which only the plugin can recognise — is still stored once.
func TestInboundIndexSurvivesPluginReload(t *testing.T) {
	s := startInbound(t, "bot")
	ctx := context.Background()
	to := "bot@" + s.Domain
	first := s.service.Sign(verificationMail(to, "111111")) // the bytes the relay sees
	for _, raw := range [][]byte{first, verificationMail(to, "222222"), verificationMail(to, "333333")} {
		require.NoError(t, s.send("a@example.org", to, raw))
	}
	counts := func() (interface{}, interface{}) {
		a := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)
		return a["messages_total"], a["messages_unread"]
	}
	require.Eventually(t, func() bool { total, _ := counts(); return total == float64(3) }, 10*time.Second, 50*time.Millisecond)
	st, d := s.wait("bot", "timeout=10") // the earliest unread: marks it read
	require.Equal(t, 200, st, "%v", d)
	require.Equal(t, "111111", d["code"])
	total, unread := counts()
	require.Equal(t, float64(3), total)
	require.Equal(t, float64(2), unread)

	// A new plugin process: nothing in memory.
	_, err := s.Vault.Client.Sys().ReloadPlugin(&api.ReloadPluginInput{Plugin: "vault-plugin-mailgent"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return s.rec.must(s.Vault.Token, "GET", "mailgent/config", nil)["bus_status"] == "connected"
	}, 30*time.Second, 100*time.Millisecond)
	total, unread = counts()
	require.Equal(t, float64(3), total, "counts rebuilt from storage")
	require.Equal(t, float64(2), unread)

	// The first message again, straight onto the bus, after shrinking
	// JetStream's duplicate window and waiting it out: JetStream takes it,
	// so only the plugin's index can keep it from being stored twice.
	js := s.jetStream()
	stream, err := js.Stream(ctx, bus.InboundStream)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	sc := info.Config
	sc.Duplicates = time.Second
	_, err = js.UpdateStream(ctx, sc)
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	rjs, rb := s.relayBus()
	pub := s.inboundPublicKey()
	id := bus.MessageID(s.Domain, "bot", first)
	sealed, err := s.relaySealer().Seal(pub, s.Domain, "bot", relayPayload(t, mailmsg.Message{ID: id, Subject: "again"}, first))
	require.NoError(t, err)
	dup, err := bus.Publish(ctx, rjs, rb.InboundBlobs, s.Domain, "bot", id, sealed)
	require.NoError(t, err)
	require.False(t, dup, "JetStream's window was waited out")
	require.Eventually(t, func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 50*time.Millisecond, "the plugin consumed it")
	total, unread = counts()
	require.Equal(t, float64(3), total, "stored once")
	require.Equal(t, float64(2), unread)
	events := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot/audit?operation=message.receive", nil)["events"].([]interface{})
	n := 0
	for _, e := range events {
		if e.(map[string]interface{})["request_id"] == id {
			n++
		}
	}
	require.Equal(t, 1, n, "received (and recorded) once")

	// New mail after the reload reaches wait as before.
	require.NoError(t, s.send("a@example.org", to, verificationMail(to, "444444")))
	st, d = s.wait("bot", "timeout=10&subject=verification")
	require.Equal(t, 200, st, "%v", d)
	require.Contains(t, []interface{}{"222222", "333333", "444444"}, d["code"])
	require.Eventually(t, func() bool { total, _ := counts(); return total == float64(4) }, 10*time.Second, 50*time.Millisecond)
}

// Mail being stored when the plugin's bus work stops (here: its NATS URL is
// changed) is finished and acknowledged, and what the plugin had pulled but
// not begun is still stored: nothing is cut off to wait for a redelivery
// (after a retry delay, or after AckWait — a minute — if the plugin is off
// the bus meanwhile). A burst sent across such a change is all in the inbox
// promptly, and the plugin logged no canceled store.
func TestInboundMailInFlightSurvivesBusRestart(t *testing.T) {
	s := startInbound(t, "bot")
	to := "bot@" + s.Domain
	const n = 480
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				errs <- s.send("a@example.org", to, verificationMail(to, fmt.Sprintf("%06d", 100000+i)))
			}
		}()
	}
	total := func() float64 {
		return s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)["messages_total"].(float64)
	}
	// Off the bus and back, several times while mail is flowing: each time
	// the plugin is likely to be in the middle of storing some.
	for flip := range 5 {
		require.Eventually(t, func() bool { return total() >= float64(20+60*flip) }, 20*time.Second, 2*time.Millisecond)
		s.rec.must(s.Vault.Token, "POST", "mailgent/config", map[string]interface{}{"nats_url": "nats://127.0.0.1:1", "nats_password": s.NATS.Password})
		s.rec.must(s.Vault.Token, "POST", "mailgent/config", map[string]interface{}{"nats_url": s.NATS.URL, "nats_password": s.NATS.Password})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	start := time.Now()
	require.Eventually(t, func() bool { return total() == n }, 40*time.Second, 50*time.Millisecond,
		"all %d stored well within AckWait (60 s); %v of them are", n, total())
	t.Logf("all %d stored %v after the last 250", n, time.Since(start).Round(time.Millisecond))
	for _, line := range strings.Split(s.Vault.Log(), "\n") {
		// (Vault itself logs "context canceled" at start-up, about its own work.)
		if strings.Contains(line, "inbound message will be retried") && strings.Contains(line, "context canceled") {
			t.Fatalf("a store was cut off: %s", line)
		}
	}
}
