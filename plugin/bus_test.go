package plugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// Fakes of JetStream for the send path and the consumers: the plugin's
// jetStreamBus runs over them as over the real thing, and every message is
// settled into a log the tests read.

// fakeJetStream records what is published; err, when set, fails every
// publish.
type fakeJetStream struct {
	jetstream.JetStream // unused methods panic
	mu                  sync.Mutex
	published           []*nats.Msg
	err                 error
}

func (f *fakeJetStream) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.published = append(f.published, msg)
	return &jetstream.PubAck{Stream: bus.OutboundStream, Sequence: uint64(len(f.published))}, nil
}

func (f *fakeJetStream) messages() []*nats.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*nats.Msg(nil), f.published...)
}

// fakeObjectStore is a blob bucket in memory; getErr, when set, fails
// every read.
type fakeObjectStore struct {
	jetstream.ObjectStore // unused methods panic
	mu                    sync.Mutex
	objects               map[string][]byte
	deleted               []string
	getErr                error
}

func newFakeObjectStore() *fakeObjectStore { return &fakeObjectStore{objects: map[string][]byte{}} }

func (f *fakeObjectStore) PutBytes(_ context.Context, name string, data []byte) (*jetstream.ObjectInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[name] = append([]byte(nil), data...)
	return &jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Name: name}, Size: uint64(len(data))}, nil
}

func (f *fakeObjectStore) GetBytes(_ context.Context, name string, _ ...jetstream.GetObjectOpt) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	b, ok := f.objects[name]
	if !ok {
		return nil, jetstream.ErrObjectNotFound
	}
	return b, nil
}

func (f *fakeObjectStore) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[name]; !ok {
		return jetstream.ErrObjectNotFound
	}
	delete(f.objects, name)
	f.deleted = append(f.deleted, name)
	return nil
}

func (f *fakeObjectStore) has(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.objects[name]
	return ok
}

// fakeMsg is a pulled message; how it was settled goes to settled, and
// onAck runs at the ack (to look at storage at that moment).
type fakeMsg struct {
	header  nats.Header
	data    []byte
	mu      sync.Mutex
	settled []string
	onAck   func()
}

func (m *fakeMsg) Headers() nats.Header { return m.header }
func (m *fakeMsg) Data() []byte         { return m.data }

func (m *fakeMsg) Ack() error {
	if m.onAck != nil {
		m.onAck()
	}
	m.settle("ack")
	return nil
}

func (m *fakeMsg) NakWithDelay(d time.Duration) error { m.settle("nak " + d.String()); return nil }
func (m *fakeMsg) InProgress() error                  { return nil }
func (m *fakeMsg) TermWithReason(r string) error      { m.settle("term " + r); return nil }

func (m *fakeMsg) settle(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settled = append(m.settled, s)
}

func (m *fakeMsg) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.settled...)
}

// fakeOpener opens every payload as payload (or fails with err), and
// records what it was given.
type fakeOpener struct {
	payload *bus.Payload
	err     error
	mu      sync.Mutex
	opened  [][]byte
}

func (o *fakeOpener) Open(domain, agent, id, version string, sealed []byte) (*bus.Payload, error) {
	o.mu.Lock()
	o.opened = append(o.opened, sealed)
	o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	if o.payload.Head.ID != id {
		return nil, fmt.Errorf("%w: payload ID %q does not match message ID %q", bus.ErrPoison, o.payload.Head.ID, id)
	}
	p := *o.payload
	return &p, nil
}
