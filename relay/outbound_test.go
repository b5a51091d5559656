package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{
		-1: time.Second, 0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		9: 256 * time.Second, 10: 5 * time.Minute, 29: 5 * time.Minute, 64: 5 * time.Minute, 1 << 30: 5 * time.Minute,
	} {
		require.Equal(t, want, backoff(attempt), "attempt %d", attempt)
	}
}

func TestDeliveryKey(t *testing.T) {
	require.Equal(t, "01JQ8ZK3V2-ab_c", deliveryKey("01JQ8ZK3V2-ab_c"))
	for _, id := range []string{"a.b", ".x", "x y", "<id@host>", "ü", ""} {
		k := deliveryKey(id)
		require.True(t, strings.HasPrefix(k, "sha256."), k)
		require.Regexp(t, `^sha256\.[0-9a-f]{64}$`, k)
	}
	require.NotEqual(t, deliveryKey("a.b"), deliveryKey("a_b"))
}

// ---- the state machine, with JetStream faked ----

// events records bus operations in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

type fakeMsg struct {
	jetstream.Msg // unused methods panic
	data          []byte
	header        nats.Header // inline payloads only: no blob header
	delivered     uint64
	ev            *events
}

func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Headers() nats.Header { return m.header }
func (m *fakeMsg) Subject() string      { return bus.OutboundSubject("agents.example.com") }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered}, nil
}
func (m *fakeMsg) Ack() error                         { m.ev.add("ack"); return nil }
func (m *fakeMsg) DoubleAck(context.Context) error    { m.ev.add("doubleack"); return nil }
func (m *fakeMsg) NakWithDelay(d time.Duration) error { m.ev.add("nak " + d.String()); return nil }
func (m *fakeMsg) TermWithReason(reason string) error { m.ev.add("term " + reason); return nil }
func (m *fakeMsg) InProgress() error                  { return nil }

type fakeKV struct {
	jetstream.KeyValue
	ev *events
	mu sync.Mutex
	m  map[string]string
}

type fakeEntry struct {
	jetstream.KeyValueEntry
	v []byte
}

func (e fakeEntry) Value() []byte { return e.v }

func (kv *fakeKV) Get(_ context.Context, key string) (jetstream.KeyValueEntry, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[key]
	if !ok {
		return nil, jetstream.ErrKeyNotFound
	}
	return fakeEntry{v: []byte(v)}, nil
}

func (kv *fakeKV) PutString(_ context.Context, key, value string) (uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m[key] = value
	kv.ev.add("kv.put " + key)
	return 1, nil
}

// recordingJS records what a relay reports over JetStream (delivery
// statuses, webhook attempts), each also as an event named by label.
type recordingJS[T any] struct {
	jetstream.JetStream
	ev    *events
	label func(T) string
	mu    sync.Mutex
	got   []T
}

func (js *recordingJS[T]) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	var v T
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return nil, err
	}
	js.mu.Lock()
	js.got = append(js.got, v)
	js.mu.Unlock()
	js.ev.add(js.label(v))
	return &jetstream.PubAck{}, nil
}

// fakeJS records delivery statuses.
type fakeJS = recordingJS[bus.DeliveryStatus]

func newFakeJS(ev *events) *fakeJS {
	return &fakeJS{ev: ev, label: func(st bus.DeliveryStatus) string { return "status " + st.Status }}
}

type machine struct {
	o   *outbound
	ev  *events
	kv  *fakeKV
	js  *fakeJS
	f   *fakeSmarthost
	dir *directory
	// plugin signs what is queued; relay is this relay's key.
	plugin ed25519.PrivateKey
	relay  *bus.RelayKey
}

func newMachine(t *testing.T, mutate func(*fakeSmarthost)) *machine {
	t.Helper()
	f, _ := startSmarthost(t, "none", mutate)
	cfg := DefaultConfig()
	cfg.KeyFile = testKeyFile(t)
	cfg.Domain = "agents.example.com"
	cfg.Hostname = "relay-1"
	cfg.Smarthost, cfg.SmarthostTLS, cfg.SmarthostTimeout = f.addr, "none", 5*time.Second
	require.NoError(t, cfg.Validate())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	relayKey, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	_, plugin, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s := &Server{cfg: cfg, logger: logger, dir: newDirectory(cfg.Domain, logger), key: relayKey}
	s.dir.synced = true
	s.dir.agents["billing-bot"] = true
	s.dir.signerKey = plugin.Public().(ed25519.PublicKey)
	ev := &events{}
	m := &machine{ev: ev, kv: &fakeKV{ev: ev, m: map[string]string{}}, js: newFakeJS(ev), f: f, dir: s.dir, plugin: plugin, relay: relayKey}
	m.o = newOutbound(s)
	m.o.js, m.o.kv = m.js, m.kv
	return m
}

// handle queues o as the plugin would (signed, sealed to this relay) and
// hands it to the state machine.
func (m *machine) handle(t *testing.T, o *bus.Outbound, attempt uint64) {
	t.Helper()
	m.handleSealed(t, o, m.plugin, m.relay, attempt)
}

func (m *machine) handleSealed(t *testing.T, o *bus.Outbound, signer ed25519.PrivateKey, to *bus.RelayKey, attempt uint64) {
	t.Helper()
	pub, err := to.Public()
	require.NoError(t, err)
	data, err := bus.SealOutbound("agents.example.com", o, signer, []bus.RelayPublic{pub})
	require.NoError(t, err)
	m.o.handle(&fakeMsg{data: data, header: nats.Header{jetstream.MsgIDHeader: {o.ID}, bus.HeaderSeal: {"outbound-2"}}, delivered: attempt, ev: m.ev})
}

func (m *machine) lastStatus(t *testing.T) bus.DeliveryStatus {
	t.Helper()
	m.js.mu.Lock()
	defer m.js.mu.Unlock()
	require.NotEmpty(t, m.js.got)
	return m.js.got[len(m.js.got)-1]
}

func TestHandleSentRecordsBeforeAckAndNeverTwice(t *testing.T) {
	m := newMachine(t, nil)
	o := testOutbound()
	m.handle(t, o, 1)
	require.Equal(t, []string{"kv.put 01JQTESTID", "status sent", "doubleack"}, m.ev.all())
	st := m.lastStatus(t)
	require.Equal(t, bus.DeliveryStatus{ID: o.ID, Agent: o.Agent, Status: bus.StatusSent, Reply: st.Reply, Attempt: 1, At: st.At, Relay: "relay-1"}, st)
	require.True(t, strings.HasPrefix(st.Reply, "250 2.0.0 "), st.Reply)
	require.Equal(t, st.Reply, m.kv.m["01JQTESTID"])

	// Redelivered (the ack was lost): reported from the record, not sent again.
	m.handle(t, o, 2)
	require.Len(t, m.f.messages(), 1)
	require.Equal(t, []string{"kv.put 01JQTESTID", "status sent", "doubleack", "status sent", "doubleack"}, m.ev.all())
	require.Equal(t, st.Reply, m.lastStatus(t).Reply)
	require.Equal(t, 2, m.lastStatus(t).Attempt)
}

func TestHandleAgentRevoked(t *testing.T) {
	m := newMachine(t, nil)
	delete(m.dir.agents, "billing-bot")
	m.dir.gone["billing-bot"] = true // the directory saw its key deleted
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"status cancelled", "ack"}, m.ev.all())
	require.Equal(t, "agent revoked", m.lastStatus(t).Reply)
	require.Empty(t, m.f.messages())
}

func TestHandleAgentNotInDirectoryYetWaits(t *testing.T) {
	m := newMachine(t, nil)
	delete(m.dir.agents, "billing-bot") // never seen: created a moment ago
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"nak 1s"}, m.ev.all(), "retried, not cancelled")
	require.Empty(t, m.f.messages())
}

func TestHandleDeferredWithBackoffThenFailed(t *testing.T) {
	m := newMachine(t, func(f *fakeSmarthost) {
		f.dataErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		f.dataErrN = 1000
	})
	m.handle(t, testOutbound(), 3)
	require.Equal(t, []string{"status deferred", "nak 4s"}, m.ev.all())
	st := m.lastStatus(t)
	require.Equal(t, 3, st.Attempt)
	require.Equal(t, "end of DATA: 451 4.3.0 Try again later", st.Reply)

	m.handle(t, testOutbound(), bus.MaxDeliveryAttempts)
	require.Equal(t, []string{"status deferred", "nak 4s", "status failed", "term delivery attempts exhausted"}, m.ev.all())
	require.Contains(t, m.lastStatus(t).Reply, fmt.Sprintf("giving up after %d attempts: end of DATA: 451", bus.MaxDeliveryAttempts))
}

func TestHandlePermanentFailure(t *testing.T) {
	m := newMachine(t, func(f *fakeSmarthost) {
		f.rcptErr["alice@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	})
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"status failed", "ack"}, m.ev.all())
	require.Equal(t, "all recipients refused: <alice@example.org> 550 5.1.1 No such user", m.lastStatus(t).Reply)
}

func TestHandlePoison(t *testing.T) {
	m := newMachine(t, nil)
	sealed := nats.Header{jetstream.MsgIDHeader: {"01JQTESTID"}, bus.HeaderSeal: {"outbound-2"}}
	m.o.handle(&fakeMsg{data: []byte("{not json"), header: sealed, delivered: 1, ev: m.ev})
	plain, err := json.Marshal(testOutbound())
	require.NoError(t, err)
	m.o.handle(&fakeMsg{data: plain, header: nats.Header{jetstream.MsgIDHeader: {"01JQTESTID"}}, delivered: 1, ev: m.ev})
	ev := m.ev.all()
	require.Len(t, ev, 2)
	require.Contains(t, ev[0], "term outbound message refused: undecodable")
	require.Contains(t, ev[1], "term outbound message refused: not sealed by the plugin")
	require.Empty(t, m.js.got)
	require.Empty(t, m.f.messages())
}

// Whoever holds relay credentials cannot make a relay send mail: only what
// the plugin signed is delivered, and only from an agent of the domain.
func TestHandleRefusesForgedOutbound(t *testing.T) {
	m := newMachine(t, nil)
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	m.handleSealed(t, testOutbound(), forger, m.relay, 1)
	require.Len(t, m.ev.all(), 1)
	require.Contains(t, m.ev.all()[0], "term outbound message refused: the signature does not verify")

	// Signed by the plugin's key but from outside the domain: the plugin
	// never queues that; refused all the same.
	o := testOutbound()
	o.MailFrom = "ceo@bank.example"
	m.handleSealed(t, o, m.plugin, m.relay, 1)
	require.Contains(t, m.ev.all()[1], "is not agent")

	// Sealed to another relay only: left to it, not terminated.
	other, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	m.handleSealed(t, testOutbound(), m.plugin, other, 1)
	require.Equal(t, "nak 1s", m.ev.all()[2])
	require.Empty(t, m.f.messages(), "nothing forged was delivered")
	require.Empty(t, m.js.got)
}
