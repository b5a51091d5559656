package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Every header the consumer acts on is checked before it reaches storage.
func TestInboundHeadersAreValidated(t *testing.T) {
	id := bus.MessageID("d.example", "bot", []byte("raw"))
	for _, tc := range []struct {
		name, id, agent, domain, blob, want string
	}{
		{"good", id, "bot", "d.example", "", ""},
		{"good with its blob", id, "bot", "d.example", id, ""},
		{"foreign domain", id, "bot", "e.example", "", "Mailgent-Domain"},
		{"no id", "", "bot", "d.example", "", "Nats-Msg-Id"},
		{"id not a hash", "probe-1", "bot", "d.example", "", "Nats-Msg-Id"},
		{"agent with a path", id, "bot/../config", "d.example", "", "Mailgent-Agent"},
		{"agent upper case", id, "Bot", "d.example", "", "Mailgent-Agent"},
		{"no agent", id, "", "d.example", "", "Mailgent-Agent"},
		{"another message's blob", id, "bot", "d.example", "out-x", "Mailgent-Blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkInboundHeaders(tc.id, tc.agent, tc.domain, tc.blob, "d.example")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

const testDomain = "agents.example.com" // the domain setup writes

// consumerRig is a backend with agent "bot" and the consumer's fakes: the
// inbound blob bucket behind the real jetStreamBus, and an opener.
type consumerRig struct {
	tb     *testBackend
	obs    *fakeObjectStore
	mb     *jetStreamBus
	opener *fakeOpener
	cfg    *mailgentConfig
	// storage is what handleInbound is given: tb.storage unless a case
	// makes it fail.
	storage logical.Storage
}

func newConsumerRig(t *testing.T) *consumerRig {
	t.Helper()
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	cfg, err := tb.config(context.Background(), tb.storage)
	require.NoError(t, err)
	obs := newFakeObjectStore()
	return &consumerRig{tb: tb, obs: obs, mb: &jetStreamBus{inboundBlobs: obs}, opener: &fakeOpener{}, cfg: cfg, storage: tb.storage}
}

// message is a message for agent as a relay publishes it; with blob its
// sealed payload is in the blob bucket. The opener will open it.
func (r *consumerRig) message(t *testing.T, agent, subject string, blob bool) *fakeMsg {
	t.Helper()
	raw := []byte("From: a@x.example\r\nSubject: " + subject + "\r\n\r\nyour code is 123456\r\n")
	id := bus.MessageID(testDomain, agent, raw)
	msg := &mailmsg.Message{ID: id, ReceivedAt: r.tb.now(), From: "a@x.example", FromAddress: "a@x.example", Subject: subject,
		SenderDomain: "x.example", Trust: mailmsg.TrustVerified, TrustReason: "dkim pass"}
	js, err := json.Marshal(msg)
	require.NoError(t, err)
	r.opener.payload = &bus.Payload{Head: msg.Head(), MessageJSON: js, Raw: raw, RelayKeyID: "00112233aabbccdd"}
	m := &fakeMsg{header: nats.Header{}, data: []byte("sealed:" + id)}
	m.header.Set(jetstream.MsgIDHeader, id)
	m.header.Set(bus.HeaderAgent, agent)
	m.header.Set(bus.HeaderDomain, testDomain)
	m.header.Set(bus.HeaderSeal, "3")
	if blob {
		_, err := r.obs.PutBytes(context.Background(), id, m.data)
		require.NoError(t, err)
		m.header.Set(bus.HeaderBlob, id)
		m.data = nil
	}
	return m
}

func (r *consumerRig) handle(m *fakeMsg) {
	r.tb.handleInbound(context.Background(), r.storage, r.mb, r.opener, r.cfg, m)
}

// total is how many messages bot's inbox holds.
func (r *consumerRig) total(t *testing.T) int {
	t.Helper()
	return r.tb.ok(t, logical.ReadOperation, "agents/bot", nil).Data["messages_total"].(int)
}

// receiveEvents are bot's message.receive outcomes, newest first.
func (r *consumerRig) receiveEvents(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, e := range r.tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": opMessageReceive}).Data["events"].([]map[string]interface{}) {
		out = append(out, e["outcome"].(string))
	}
	return out
}

// failingPuts fails every write of a key under prefix.
type failingPuts struct {
	logical.Storage
	prefix string
}

func (f failingPuts) Put(ctx context.Context, e *logical.StorageEntry) error {
	if strings.HasPrefix(e.Key, f.prefix) {
		return errors.New("storage unavailable")
	}
	return f.Storage.Put(ctx, e)
}

// The consumer's decisions, message by message: stored then acked; a
// transient failure naked for inboundRetry; what no relay sent terminated
// (poison on the agent's record as denied); a revoked agent's mail acked
// and recorded as denied; a full inbox's naked for the longer
// inboxFullRetry. A blob goes once its message is settled for good.
func TestConsumerDecisions(t *testing.T) {
	nakRetry, nakFull := "nak "+inboundRetry.String(), "nak "+inboxFullRetry.String()
	cases := []struct {
		name     string
		blob     bool
		prepare  func(t *testing.T, r *consumerRig, m *fakeMsg)
		settled  []string
		stored   int
		events   []string // message.receive outcomes, newest first
		blobGone bool
	}{
		{name: "stored, then acked", settled: []string{"ack"}, stored: 1, events: []string{outcomeSuccess}},
		{name: "stored from its blob, then acked, blob deleted", blob: true, settled: []string{"ack"}, stored: 1, events: []string{outcomeSuccess}, blobGone: true},
		{name: "redelivered: stored once, acked twice", settled: []string{"ack", "ack"}, stored: 1, events: []string{outcomeSuccess},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { r.handle(m) }},
		{name: "foreign domain: terminated", settled: []string{"term foreign or missing Mailgent-Domain header"},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { m.header.Set(bus.HeaderDomain, "elsewhere.example") }},
		{name: "agent name with a path: terminated", settled: []string{"term Mailgent-Agent header is not an agent name"},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { m.header.Set(bus.HeaderAgent, "bot/../config") }},
		{name: "storage write fails: naked, nothing stored", settled: []string{nakRetry},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) {
				r.storage = failingPuts{Storage: r.tb.storage, prefix: inboxRecPrefix}
			}},
		{name: "blob missing: terminated", blob: true, blobGone: true, settled: []string{"term blob %s is missing"},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { r.obs.objects = map[string][]byte{} }},
		{name: "blob unreadable: naked, blob kept", blob: true, settled: []string{nakRetry},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { r.obs.getErr = errors.New("bucket unavailable") }},
		{name: "forged: terminated with the reason, denied, blob deleted", blob: true, events: []string{outcomeDenied}, blobGone: true,
			settled: []string{"term " + bus.ErrPoison.Error() + ": no registered relay signed this session"},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) {
				r.opener.err = fmt.Errorf("%w: no registered relay signed this session", bus.ErrPoison)
			}},
		{name: "does not open for now: naked", settled: []string{nakRetry},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { r.opener.err = errors.New("transient") }},
		{name: "revoked agent: acked, denied, blob deleted", blob: true, settled: []string{"ack"}, events: []string{outcomeDenied}, blobGone: true,
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { r.tb.ok(t, logical.DeleteOperation, "agents/bot", nil) }},
		{name: "revoked agent, denial not recorded: naked", settled: []string{nakRetry},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) {
				r.tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
				r.storage = failingPuts{Storage: r.tb.storage, prefix: auditPrefix}
			}},
		{name: "unknown agent: acked", settled: []string{"ack"},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) { m.header.Set(bus.HeaderAgent, "nobody") }},
		{name: "inbox full of young unread mail: naked for longer", settled: []string{nakFull}, stored: 1, events: []string{outcomeSuccess},
			prepare: func(t *testing.T, r *consumerRig, m *fakeMsg) {
				r.tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_inbox_messages": 1})
				r.cfg.MaxInboxMessages = 1
				first := r.message(t, "bot", "first", false)
				r.handle(first)
				require.Equal(t, []string{"ack"}, first.log())
				*m = *r.message(t, "bot", "second", false)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newConsumerRig(t)
			m := r.message(t, "bot", "your code", tc.blob)
			blob := m.header.Get(bus.HeaderBlob)
			m.onAck = func() { // the ack comes only after the Vault write
				if tc.stored > 0 {
					assert.Equal(t, tc.stored, r.total(t), "stored before the ack")
				}
			}
			if tc.prepare != nil {
				tc.prepare(t, r, m)
			}
			r.handle(m)
			want := tc.settled
			for i, s := range want {
				want[i] = strings.ReplaceAll(s, "%s", blob)
			}
			require.Equal(t, want, m.log())
			r.storage = r.tb.storage
			if st, err := r.tb.loadAgent(context.Background(), r.tb.storage, "bot"); err == nil && st.active() {
				require.Equal(t, tc.stored, r.total(t))
			}
			require.Equal(t, tc.events, r.receiveEvents(t))
			if blob != "" {
				require.Equal(t, !tc.blobGone, r.obs.has(blob), "blob kept")
			}
		})
	}
}

// The pull loop hands every message to the workers and ends with the
// pull: nil when the pull was closed, the error when the consumer failed.
func TestStoreInboundHandsEveryMessageToAWorker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     error
		wantErr bool
	}{
		{"pull closed", jetstream.ErrMsgIteratorClosed, false},
		{"consumer failed", errors.New("consumer deleted"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newConsumerRig(t)
			var msgs []*fakeMsg
			openers := map[string]*bus.Payload{}
			for i := range 3 {
				m := r.message(t, "bot", fmt.Sprint("message ", i), false)
				openers[m.header.Get(jetstream.MsgIDHeader)] = r.opener.payload
				msgs = append(msgs, m)
			}
			opener := payloadsByID(openers)
			i := 0
			next := func() (busMsg, error) {
				if i == len(msgs) {
					return nil, tc.end
				}
				i++
				return msgs[i-1], nil
			}
			err := r.tb.storeInbound(context.Background(), r.tb.storage, r.mb, opener, r.cfg, next)
			if tc.wantErr {
				require.ErrorIs(t, err, tc.end)
			} else {
				require.NoError(t, err)
			}
			for _, m := range msgs {
				require.Equal(t, []string{"ack"}, m.log())
			}
			require.Equal(t, 3, r.total(t))
		})
	}
}

// payloadsByID opens each message as its own payload.
type payloadsByID map[string]*bus.Payload

func (p payloadsByID) Open(_, _, id, _ string, _ []byte) (*bus.Payload, error) {
	return p[id], nil
}

// A relay's delivery result lands on the sent record: acked once stored,
// naked while storage fails, terminated if it does not decode; a late
// "deferred" never overwrites "sent".
func TestConsumerRecordsDeliveryResults(t *testing.T) {
	status := func(s, reply string, attempt int) []byte {
		b, _ := json.Marshal(bus.DeliveryStatus{ID: "0000000000000000001-aaaaaaaaaaaa", Agent: "bot", Status: s, Reply: reply, Attempt: attempt})
		return b
	}
	cases := []struct {
		name     string
		results  [][]byte
		failing  bool
		settled  []string
		want     string // the record's status after
		wantRply string
	}{
		{"sent", [][]byte{status(bus.StatusSent, "250 ok", 1)}, false, []string{"ack"}, bus.StatusSent, "250 ok"},
		{"deferred, then sent", [][]byte{status(bus.StatusDeferred, "451 later", 1), status(bus.StatusSent, "250 ok", 2)}, false, []string{"ack", "ack"}, bus.StatusSent, "250 ok"},
		{"sent, then a late deferred", [][]byte{status(bus.StatusSent, "250 ok", 2), status(bus.StatusDeferred, "451 later", 1)}, false, []string{"ack", "ack"}, bus.StatusSent, "250 ok"},
		{"undecodable", [][]byte{[]byte("{")}, false, []string{"term undecodable delivery status"}, bus.StatusQueued, ""},
		{"storage fails", [][]byte{status(bus.StatusSent, "250 ok", 1)}, true, []string{"nak " + statusRetry.String()}, bus.StatusQueued, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestBackend(t)
			tb.setup(t, "bot")
			ctx := context.Background()
			st, err := tb.loadAgent(ctx, tb.storage, "bot")
			require.NoError(t, err)
			require.NoError(t, tb.writeSent(ctx, tb.storage, st, &sentRecord{ID: "0000000000000000001-aaaaaaaaaaaa", Status: bus.StatusQueued}))
			var s logical.Storage = tb.storage
			if tc.failing {
				s = failingPuts{Storage: tb.storage, prefix: sentPrefix}
			}
			var settled []string
			for _, data := range tc.results {
				m := &fakeMsg{header: nats.Header{}, data: data}
				tb.handleStatus(ctx, s, m)
				settled = append(settled, m.log()...)
			}
			require.Equal(t, tc.settled, settled)
			rec, err := tb.readSent(ctx, tb.storage, st, "0000000000000000001-aaaaaaaaaaaa")
			require.NoError(t, err)
			require.Equal(t, tc.want, rec.Status)
			require.Equal(t, tc.wantRply, rec.Reply)
		})
	}
}

// gatedOpener holds every Open until release is closed, counting how many
// are in it at once.
type gatedOpener struct {
	*fakeOpener
	release          chan struct{}
	mu               sync.Mutex
	active, maxInUse int
}

func (g *gatedOpener) Open(domain, agent, id, version string, sealed []byte) (*bus.Payload, error) {
	g.mu.Lock()
	g.active++
	g.maxInUse = max(g.maxInUse, g.active)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	g.active--
	g.mu.Unlock()
	return g.fakeOpener.Open(domain, agent, id, version, sealed)
}

func (g *gatedOpener) inUse() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active
}

// At most largeInboundAtOnce workers fetch and open a large message (one
// with a blob) at a time: the bound on what 32 workers hold in memory.
func TestLargeInboundMessagesAreAdmittedFewAtATime(t *testing.T) {
	r := newConsumerRig(t)
	m := r.message(t, "bot", "large", true)
	g := &gatedOpener{fakeOpener: r.opener, release: make(chan struct{})}
	var wg sync.WaitGroup
	for range 2 * largeInboundAtOnce {
		copyMsg := &fakeMsg{header: m.header, data: m.data}
		wg.Go(func() { r.tb.handleInbound(context.Background(), r.storage, r.mb, g, r.cfg, copyMsg) })
	}
	require.Eventually(t, func() bool { return g.inUse() == largeInboundAtOnce }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // room for a fifth to get in, were it let
	require.Equal(t, largeInboundAtOnce, g.inUse())
	close(g.release)
	wg.Wait()
	require.Equal(t, largeInboundAtOnce, g.maxInUse)
	require.Equal(t, 1, r.total(t), "stored once")
}
