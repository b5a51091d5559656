package plugin

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/version"
)

// The bus: the active node's NATS connection (busSupervisor) and the work
// it does while connected (serveBus) — the directory the relays read
// (directory.go), the inbound consumer (consumer.go), the delivery results
// of outbound mail (sent.go) and the queue the send path publishes to.

// Bus status values reported by config reads.
const (
	busDisabled   = "disabled"   // no nats_url configured
	busConnecting = "connecting" // dialing or waiting to retry
	busConnected  = "connected"  // connected, streams ensured
	busStopped    = "stopped"    // not the active node, or unmounting
)

// mailBus is what the send path and the inbound consumer do with
// JetStream, behind an interface of the plugin's own so that their
// decisions are unit-tested with a fake. jetStreamBus is the real one.
type mailBus interface {
	// queueOutbound publishes one outbound message, signed by the plugin
	// and sealed to the relays; it returns once JetStream has it.
	queueOutbound(ctx context.Context, domain string, o *bus.Outbound, signer ed25519.PrivateKey, relays []bus.RelayPublic) error
	// inboundBlob reads the sealed payload of a large inbound message;
	// jetstream.ErrObjectNotFound when it is gone.
	inboundBlob(ctx context.Context, name string) ([]byte, error)
	// deleteInboundBlob removes one once its message is settled.
	deleteInboundBlob(ctx context.Context, name string) error
	// queueWebhook publishes one webhook event, signed by the plugin and
	// sealed to the relays; bus.ErrBusFull when the stream is full.
	queueWebhook(ctx context.Context, domain string, ev *bus.WebhookEvent, signer ed25519.PrivateKey, relays []bus.RelayPublic) error
}

// busMsg is a pulled message as the consumers use it: what they read of
// it and how they settle it. A jetstream.Msg is one.
type busMsg interface {
	Headers() nats.Header
	Data() []byte
	Ack() error
	NakWithDelay(delay time.Duration) error
	TermWithReason(reason string) error
	// InProgress restarts the message's AckWait while it is being stored.
	InProgress() error
}

// jetStreamBus is the mailBus of a live connection.
type jetStreamBus struct {
	js            jetstream.JetStream
	inboundBlobs  jetstream.ObjectStore
	outboundBlobs jetstream.ObjectStore
}

func (j *jetStreamBus) queueOutbound(ctx context.Context, domain string, o *bus.Outbound, signer ed25519.PrivateKey, relays []bus.RelayPublic) error {
	return bus.PublishOutbound(ctx, j.js, j.outboundBlobs, domain, o, signer, relays)
}

func (j *jetStreamBus) queueWebhook(ctx context.Context, domain string, ev *bus.WebhookEvent, signer ed25519.PrivateKey, relays []bus.RelayPublic) error {
	return bus.PublishWebhook(ctx, j.js, domain, ev, signer, relays)
}

func (j *jetStreamBus) inboundBlob(ctx context.Context, name string) ([]byte, error) {
	return j.inboundBlobs.GetBytes(ctx, name)
}

func (j *jetStreamBus) deleteInboundBlob(ctx context.Context, name string) error {
	return j.inboundBlobs.Delete(ctx, name)
}

// connectedBus is the bus the send path publishes to; nil while there is
// no connection with the outbound queue set up.
func (b *backend) connectedBus() mailBus {
	b.busMu.Lock()
	defer b.busMu.Unlock()
	return b.bus
}

func (b *backend) setConnectedBus(mb mailBus) {
	b.busMu.Lock()
	defer b.busMu.Unlock()
	b.bus = mb
}

// busSupervisor owns the NATS connection of the active node: it connects
// (retrying with backoff), follows config changes, runs the bus work while
// connected and reports its state (config's bus_status).
type busSupervisor struct {
	logger hclog.Logger

	// serve does the bus work while connected; set by the backend.
	serve func(ctx context.Context, s logical.Storage, nc *nats.Conn, cfg *mailgentConfig) error

	// live is the config in force for the bus work (limits change without
	// a reconnect).
	live atomic.Pointer[mailgentConfig]

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	changed chan struct{}
	state   string
	lastErr string
}

// Reconnect backoff.
const (
	minBusBackoff = 500 * time.Millisecond
	maxBusBackoff = 30 * time.Second
)

func newBusSupervisor(logger hclog.Logger) *busSupervisor {
	return &busSupervisor{logger: logger, state: busStopped, changed: make(chan struct{}, 1)}
}

// start runs the supervisor until stop.
func (w *busSupervisor) start(s logical.Storage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx, s)
	}()
}

// stop ends the bus work and the connection, and waits for both.
func (w *busSupervisor) stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel, w.done = nil, nil
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	w.setStatus(busStopped, nil)
}

// configChanged wakes the loop so it reconnects with the new settings.
func (w *busSupervisor) configChanged() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *busSupervisor) setStatus(state string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state = state
	w.lastErr = ""
	if err != nil {
		w.lastErr = err.Error()
	}
}

// status reports the bus state and the last connection error, if any.
func (w *busSupervisor) status() (string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state, w.lastErr
}

// liveConfig is the config in force for the bus work, or fallback.
func (w *busSupervisor) liveConfig(fallback *mailgentConfig) *mailgentConfig {
	if live := w.live.Load(); live != nil {
		return live
	}
	return fallback
}

// run connects and serves until ctx ends: 1. read the config (no
// nats_url: wait for a change), 2. connect, backing off after a failure,
// 3. serve until the config changes in a way that needs a new connection
// or the bus work fails, 4. close and go round again.
func (w *busSupervisor) run(ctx context.Context, s logical.Storage) {
	backoff := minBusBackoff
	for ctx.Err() == nil {
		cfg, err := readConfig(ctx, s)
		if err != nil {
			w.logger.Error("read config", "error", err)
			w.setStatus(busConnecting, err)
			w.wait(ctx, backoff)
			continue
		}
		if cfg == nil || cfg.NATSURL == "" {
			w.setStatus(busDisabled, nil)
			w.wait(ctx, 0)
			continue
		}
		w.setStatus(busConnecting, nil)
		nc, err := w.connect(ctx, cfg)
		if err != nil {
			w.logger.Warn("NATS not reachable; retrying", "error", err, "retry_in", backoff)
			w.setStatus(busConnecting, err)
			w.wait(ctx, backoff)
			backoff = min(backoff*2, maxBusBackoff)
			continue
		}
		backoff = minBusBackoff
		w.setStatus(busConnected, nil)
		w.logger.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
		if err := w.serveUntilChange(ctx, s, nc, cfg); err != nil {
			w.logger.Error("bus work stopped; reconnecting", "error", err)
			w.setStatus(busConnecting, err)
			w.wait(ctx, backoff)
		}
		nc.Close()
	}
}

// serveUntilChange runs the bus work on nc until ctx ends, the config
// changes the connection or the domain (limits apply at once, without a
// reconnect), or the work fails, whose error it returns.
func (w *busSupervisor) serveUntilChange(ctx context.Context, s logical.Storage, nc *nats.Conn, cfg *mailgentConfig) error {
	if w.serve == nil {
		w.wait(ctx, 0)
		return nil
	}
	w.live.Store(cfg)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.serve(sctx, s, nc, cfg) }()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case <-w.changed:
			next, err := readConfig(ctx, s)
			if err == nil && next != nil && sameBus(cfg, next) {
				w.live.Store(next)
				continue
			}
			cancel()
			<-done
			return nil
		case err := <-done:
			return err
		}
	}
}

// wait blocks until ctx ends, the config changes, or d passes (d > 0).
func (w *busSupervisor) wait(ctx context.Context, d time.Duration) {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-w.changed:
	case <-timer:
	}
}

// connect dials NATS and makes sure the inbound stream and buckets exist.
func (w *busSupervisor) connect(ctx context.Context, cfg *mailgentConfig) (*nats.Conn, error) {
	opts := cfg.busOptions()
	opts.Name = "vault-plugin-mailgent " + version.String()
	nc, err := bus.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	setup := w.setup(cfg)
	if err := setup.EnsureInboundStream(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	if _, _, err := setup.EnsureInbound(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// setup is how the bus is made for cfg: its replicas, and drift logged.
func (w *busSupervisor) setup(cfg *mailgentConfig) bus.Setup {
	return bus.Setup{Replicas: cfg.replicas(), Warn: w.logger.Warn}
}

// sameBus tells whether two configs connect the same way for the same domain.
func sameBus(a, b *mailgentConfig) bool {
	return a.NATSURL == b.NATSURL && a.NATSUsername == b.NATSUsername &&
		a.NATSPassword == b.NATSPassword && a.Domain == b.Domain &&
		a.NATSCACert == b.NATSCACert && a.NATSAllowPlaintext == b.NATSAllowPlaintext && a.replicas() == b.replicas()
}

// serveBus is the active node's bus work while connected; it returns when
// ctx ends or the work fails. The steps:
//
//  1. make sure the buckets, the outbound stream and the consumers exist
//     (openBuses);
//  2. publish the inbound public key and the outbound signing key, and
//     the directory of live agents and registered relays, for the relays
//     (publishDirectory), and keep the directory in step (watchDirectory);
//  3. let the send path queue outbound mail and the webhook events be
//     published (setConnectedBus), and send what waits in the webhook
//     outbox (runOutbox);
//  4. record the relays' delivery results and webhook attempts
//     (consumeStatus, consumeWebhookStatus);
//  5. consume inbound mail into the inboxes until ctx ends (consumeInbound).
func (b *backend) serveBus(ctx context.Context, s logical.Storage, nc *nats.Conn, cfg *mailgentConfig) error {
	ob, err := openBuses(ctx, nc, cfg.Domain, bus.Setup{Replicas: cfg.replicas(), Warn: b.logger.Warn})
	if err != nil {
		return err
	}
	key, err := readInboundKey(ctx, s)
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("no inbound key yet: write config")
	}
	if err := b.publishDirectory(ctx, s, ob.directory, cfg.Domain, key.Public); err != nil {
		return err
	}
	b.setConnectedBus(ob.bus)
	defer b.setConnectedBus(nil)
	go b.runOutbox(ctx, s)
	stopStatus, err := b.consumeStatus(ctx, s, ob.status)
	if err != nil {
		return err
	}
	defer stopStatus()
	stopAttempts, err := b.consumeWebhookStatus(ctx, s, ob.webhookStatus)
	if err != nil {
		return err
	}
	defer stopAttempts()
	go b.watchDirectory(ctx, s, ob.directory, cfg.Domain)
	return b.consumeInbound(ctx, s, ob, key.Private, cfg)
}

// openedBuses is what serveBus works with once openBuses made sure of it.
type openedBuses struct {
	bus       *jetStreamBus
	directory jetstream.KeyValue
	inbound   jetstream.Consumer
	status    jetstream.Consumer
	// webhookStatus is the plugin's consumer of webhook attempts.
	webhookStatus jetstream.Consumer
}

// openBuses makes sure of the inbound buckets, the outbound stream and
// bucket, and the consumers — the relays' too: they bind to it and
// change nothing.
func openBuses(ctx context.Context, nc *nats.Conn, domain string, setup bus.Setup) (*openedBuses, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, inBlobs, err := setup.EnsureInbound(ctx, js)
	if err != nil {
		return nil, err
	}
	_, outBlobs, err := setup.EnsureOutbound(ctx, js)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, bus.OutboundStream, bus.RelayConsumerConfig(domain)); err != nil {
		return nil, fmt.Errorf("relay consumer: %w", err)
	}
	status, err := js.CreateOrUpdateConsumer(ctx, bus.StatusStream, bus.StatusConsumerConfig(domain))
	if err != nil {
		return nil, fmt.Errorf("delivery status consumer: %w", err)
	}
	webhookStatus, err := openWebhookConsumers(ctx, js, domain, setup)
	if err != nil {
		return nil, err
	}
	inbound, err := js.CreateOrUpdateConsumer(ctx, bus.InboundStream, bus.InboundConsumerConfig(domain))
	if err != nil {
		return nil, fmt.Errorf("inbound consumer: %w", err)
	}
	return &openedBuses{
		bus:       &jetStreamBus{js: js, inboundBlobs: inBlobs, outboundBlobs: outBlobs},
		directory: kv,
		inbound:   inbound,
		status:    status,

		webhookStatus: webhookStatus,
	}, nil
}

// openWebhookConsumers makes sure of the webhook streams, the relays'
// consumer of events, and returns the plugin's consumer of attempts.
func openWebhookConsumers(ctx context.Context, js jetstream.JetStream, domain string, setup bus.Setup) (jetstream.Consumer, error) {
	if err := setup.EnsureWebhooks(ctx, js); err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, bus.WebhookStream, bus.WebhookConsumerConfig(domain)); err != nil {
		return nil, fmt.Errorf("relay webhook consumer: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.WebhookStatusStream, bus.WebhookStatusConsumerConfig(domain))
	if err != nil {
		return nil, fmt.Errorf("webhook attempt consumer: %w", err)
	}
	return cons, nil
}
