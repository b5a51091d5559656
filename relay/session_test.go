package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// With the bus unreachable the directory is never read: local recipients
// are deferred (451, the sender retries), foreign ones refused for good.
func TestSessionDefersLocalAndRefusesForeignRecipientsWithoutDirectory(t *testing.T) {
	addr := startServer(t, nil)
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.example.org"))
	require.NoError(t, c.Mail("a@example.org"))
	requireReply(t, c.Rcpt("bot@agents.example.com"), 451, "4.3.0")
	requireReply(t, c.Rcpt("bot@AGENTS.example.com"), 451, "4.3.0")
	requireReply(t, c.Rcpt("victim@gmail.example"), 550, "5.7.1")
	requireReply(t, c.Rcpt("bot@agents.example.com.evil.example"), 550, "5.7.1")
}

// requireReply checks an SMTP error reply's code and enhanced status code.
func requireReply(t *testing.T, err error, code int, enhanced string) {
	t.Helper()
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, code, te.Code, te.Msg)
	require.True(t, strings.HasPrefix(te.Msg, enhanced+" "), "reply %d %q, want enhanced code %s", te.Code, te.Msg, enhanced)
}

// ---- SMTP dialogues against a real listener, a fake bus behind the delivery ----

// scriptStep is one step of an SMTP dialogue: what the client sends (a
// command, or a message's lines joined by CRLF; "" sends nothing) and how
// the relay's reply starts.
type scriptStep struct {
	send   string
	expect string
}

// runScript dials addr, reads the greeting and plays the steps.
func runScript(t *testing.T, addr string, steps []scriptStep) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _, err = c.ReadResponse(220)
	require.NoError(t, err)
	for i, st := range steps {
		if st.send != "" {
			require.NoError(t, c.PrintfLine("%s", st.send))
		}
		code, msg, err := c.ReadResponse(0)
		require.NoError(t, err, "step %d (%q)", i, st.send)
		got := fmt.Sprintf("%d %s", code, msg)
		require.True(t, strings.HasPrefix(got, st.expect), "step %d (%q): reply %q, want %q…", i, st.send, got, st.expect)
	}
}

// fakeBus stands in for JetStream behind the delivery: it keeps what is
// published, or refuses every publish with err.
type fakeBus struct {
	mu       sync.Mutex
	notReady bool
	err      error
	copies   []publishedCopy
}

type publishedCopy struct {
	agent, id string
	sealed    []byte
}

func (b *fakeBus) ready() bool { return !b.notReady }

func (b *fakeBus) publish(_ context.Context, agent, id string, sealed []byte) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return false, b.err
	}
	for _, c := range b.copies {
		if c.id == id {
			return true, nil
		}
	}
	b.copies = append(b.copies, publishedCopy{agent, id, bytes.Clone(sealed)})
	return false, nil
}

func (b *fakeBus) published() []publishedCopy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]publishedCopy(nil), b.copies...)
}

// world is what a dialogue's relay sees besides the client: the address
// directory (live agents bot and billing-bot unless changed), its own
// registration, the plugin's public key, and the bus.
type world struct {
	notSynced, unregistered, noPublicKey bool
	bus                                  *fakeBus
	maxHeaderBytes                       int
}

// dialogueRelay runs a relay whose delivery publishes to w.bus, and
// returns its address and an Opener of the plugin that trusts it.
func dialogueRelay(t *testing.T, mutate func(*Config), w *world) (string, *bus.Opener) {
	t.Helper()
	priv, pub, err := bus.GenerateInboundKey()
	require.NoError(t, err)
	var opener *bus.Opener
	addr := startServerWith(t, func(c *Config) {
		c.SenderAuth = false // no DNS from a unit test
		if mutate != nil {
			mutate(c)
		}
	}, func(s *Server) {
		s.inboundBus = w.bus
		if w.maxHeaderBytes > 0 {
			s.limits.MaxHeaderBytes = w.maxHeaderBytes
		}
		d := s.dir
		d.synced = !w.notSynced
		d.agents["bot"], d.agents["billing-bot"] = true, true
		d.relays[s.keyID] = !w.unregistered
		if !w.noPublicKey {
			d.pubkey = pub
		}
		opener, err = bus.NewOpener(priv, relayKeys{s.keyID: s.key.Signing.Public().(ed25519.PublicKey)})
		require.NoError(t, err)
	})
	return addr, opener
}

// relayKeys are the relays the plugin has registered.
type relayKeys map[string]ed25519.PublicKey

func (r relayKeys) SigningKey(id string) ed25519.PublicKey { return r[id] }

// message sends a short mail as DATA's lines, the final "." included,
// and expects the reply to it.
func message(subject, body, expect string) []scriptStep {
	lines := []string{"From: <a@example.org>", "To: <bot@agents.example.com>", "Subject: " + subject, "", body, "."}
	return step(strings.Join(lines, "\r\n"), expect)
}

func script(parts ...[]scriptStep) []scriptStep {
	var out []scriptStep
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func step(send, expect string) []scriptStep { return []scriptStep{{send, expect}} }

var (
	helo     = step("EHLO client.example.org", "250")
	mailFrom = step("MAIL FROM:<a@example.org>", "250")
	rcptBot  = step("RCPT TO:<bot@agents.example.com>", "250")
	dataCmd  = step("DATA", "354")
)

// The session's refusals and replies, each a dialogue.
func TestSessionDialogues(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*Config)
		world  world
		script []scriptStep
	}{
		{"bad address syntax", nil, world{}, script(helo, mailFrom,
			step("RCPT TO:<bot@[agents>", "501 5.1.3"))},
		{"relaying denied", nil, world{}, script(helo, mailFrom,
			step("RCPT TO:<victim@elsewhere.example>", "550 5.7.1"),
			step("RCPT TO:<bot@agents.example.com.evil.example>", "550 5.7.1"))},
		{"unknown agent", nil, world{}, script(helo, mailFrom,
			step("RCPT TO:<nobody@agents.example.com>", "550 5.1.1"), rcptBot)},
		{"directory not ready", nil, world{notSynced: true}, script(helo, mailFrom,
			step("RCPT TO:<bot@agents.example.com>", "451 4.3.0 Address directory"))},
		{"relay not registered", nil, world{unregistered: true}, script(helo, mailFrom,
			step("RCPT TO:<bot@agents.example.com>", "451 4.3.0 This relay is not registered"))},
		{"sender domain rate", func(c *Config) { c.RatePerSenderDomain = 1 }, world{}, script(helo, mailFrom,
			step("RSET", "250"), step("MAIL FROM:<b@example.org>", "451 4.7.1 Too much mail from your sender domain"),
			step("MAIL FROM:<a@other.example>", "250"))},
		{"client IP rate", func(c *Config) { c.RatePerIP = 1 }, world{}, script(helo, mailFrom,
			step("RSET", "250"), step("MAIL FROM:<a@other.example>", "451 4.7.1 Too much mail from your address"))},
		{"too many recipients", func(c *Config) { c.MaxRecipients = 2 }, world{}, script(helo, mailFrom, rcptBot,
			step("RCPT TO:<billing-bot@agents.example.com>", "250"),
			step("RCPT TO:<bot@agents.example.com>", "452 4.5.3"))},
		{"line too long", func(c *Config) { c.MaxLineLength = 1000 }, world{}, script(helo, mailFrom, rcptBot, dataCmd,
			step("Subject: long\r\n\r\n"+strings.Repeat("y", 1500)+"\r\n.", "500 5.5.6"))},
		{"size declared", func(c *Config) { c.MaxMessageBytes = 2048 }, world{}, script(helo,
			step("MAIL FROM:<a@example.org> SIZE=4096", "552"))},
		{"size undeclared", func(c *Config) { c.MaxMessageBytes = 2048 }, world{}, script(helo, mailFrom, rcptBot, dataCmd,
			message("big", strings.Repeat("z", 3000), "552 5.3.4"))},
		{"header section over the parser's limit", nil, world{maxHeaderBytes: 200}, script(helo, mailFrom, rcptBot, dataCmd,
			message(strings.Repeat("s", 300), "hello", "552 5.3.4 Message exceeds limits"))},
		{"bus full", nil, world{bus: &fakeBus{err: fmt.Errorf("put blob: %w", bus.ErrBusFull)}}, script(helo, mailFrom, rcptBot, dataCmd,
			message("hi", "hello", "452 4.3.1"))},
		{"agent's backlog full", nil, world{bus: &fakeBus{err: fmt.Errorf("publish: %w", bus.ErrAgentBacklog)}}, script(helo, mailFrom, rcptBot, dataCmd,
			message("hi", "hello", "452 4.2.2 Mailbox full"))},
		{"bus down", nil, world{bus: &fakeBus{err: errors.New("publish: nats: timeout")}}, script(helo, mailFrom, rcptBot, dataCmd,
			message("hi", "hello", "451 4.3.0 Temporary failure"))},
		{"not bound to the bus yet", nil, world{bus: &fakeBus{notReady: true}}, script(helo, mailFrom, rcptBot, dataCmd,
			message("hi", "hello", "451 4.3.0 Temporary failure"))},
		{"plugin's public key not published yet", nil, world{noPublicKey: true}, script(helo, mailFrom, rcptBot, dataCmd,
			message("hi", "hello", "451 4.3.0 Temporary failure"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world
			if w.bus == nil {
				w.bus = &fakeBus{}
			}
			addr, _ := dialogueRelay(t, tc.cfg, &w)
			runScript(t, addr, tc.script)
			require.Empty(t, w.bus.published(), "nothing refused reaches the bus")
		})
	}
}

// Accepted mail: one sealed copy per agent (the same agent twice is one),
// each naming only its agent, opening with the plugin's key as this relay's.
func TestSessionAcceptsOneCopyPerAgent(t *testing.T) {
	w := &world{bus: &fakeBus{}}
	addr, opener := dialogueRelay(t, nil, w)
	runScript(t, addr, script(helo, mailFrom, rcptBot,
		step("RCPT TO:<BOT@agents.example.com>", "250"),
		step("RCPT TO:<billing-bot@AGENTS.example.com>", "250"),
		dataCmd, message("hi", "your code is 123456", "250"),
		// A second transaction on the same connection starts afresh.
		mailFrom, rcptBot, dataCmd, message("again", "second", "250"),
		step("QUIT", "221")))

	copies := w.bus.published()
	require.Len(t, copies, 3)
	for i, c := range copies {
		require.Equal(t, []string{"bot", "billing-bot", "bot"}[i], c.agent)
		p, err := opener.Open("agents.example.com", c.agent, c.id, "3", c.sealed)
		require.NoError(t, err)
		require.Equal(t, c.id, p.Head.ID)
		require.Equal(t, bus.MessageID("agents.example.com", c.agent, p.Raw), c.id, "the ID is the recipient's and the bytes'")
		var m mailmsg.Message
		require.NoError(t, json.Unmarshal(p.MessageJSON, &m))
		require.Equal(t, []string{c.agent + "@agents.example.com"}, m.Envelope.RcptTo, "a copy names only its agent")
		require.Equal(t, "a@example.org", m.Envelope.MailFrom)
		require.Equal(t, "client.example.org", m.Envelope.Helo)
		require.Equal(t, mailmsg.TrustUnverified, m.Trust, "a relay that did not check never says verified")
		require.Equal(t, p.Head.Subject, m.Subject)
	}
	require.Equal(t, "hi", mustOpen(t, opener, copies[0]).Head.Subject)
	require.Contains(t, string(mustOpen(t, opener, copies[1]).Raw), "your code is 123456")
	require.Equal(t, "again", mustOpen(t, opener, copies[2]).Head.Subject)
}

func mustOpen(t *testing.T, o *bus.Opener, c publishedCopy) *bus.Payload {
	t.Helper()
	p, err := o.Open("agents.example.com", c.agent, c.id, "3", c.sealed)
	require.NoError(t, err)
	return p
}
