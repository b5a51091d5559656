package plugin

import (
	"context"
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

// Bus status values reported by config reads.
const (
	busDisabled   = "disabled"   // no nats_url configured
	busConnecting = "connecting" // dialing or waiting to retry
	busConnected  = "connected"  // connected, streams ensured
	busStopped    = "stopped"    // not the active node, or unmounting
)

// workers owns the NATS connection of the active node. For now it connects,
// makes sure the streams exist and follows config changes; the inbound
// consumer attaches here.
type workers struct {
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
	status  string
	lastErr string
}

func newWorkers(logger hclog.Logger) *workers {
	return &workers{logger: logger, status: busStopped, changed: make(chan struct{}, 1)}
}

func (w *workers) start(s logical.Storage) {
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

func (w *workers) stop() {
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
func (w *workers) configChanged() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *workers) setStatus(status string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status = status
	w.lastErr = ""
	if err != nil {
		w.lastErr = err.Error()
	}
}

// Status reports the bus state and the last connection error, if any.
func (w *workers) Status() (string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status, w.lastErr
}

func (w *workers) run(ctx context.Context, s logical.Storage) {
	backoff := 500 * time.Millisecond
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
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		w.setStatus(busConnected, nil)
		w.logger.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
		if w.serve == nil {
			w.wait(ctx, 0)
		} else {
			// serve runs the inbound consumer and the directory until the
			// config changes (or the mount goes away).
			w.live.Store(cfg)
			sctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.serve(sctx, s, nc, cfg) }()
		serving:
			for {
				select {
				case <-ctx.Done():
					cancel()
					<-done
					break serving
				case <-w.changed:
					// Limits apply at once; only a new connection or domain
					// restarts the bus work.
					next, err := readConfig(ctx, s)
					if err == nil && next != nil && sameBus(cfg, next) {
						w.live.Store(next)
						continue
					}
					cancel()
					<-done
					break serving
				case err := <-done:
					cancel()
					if err != nil {
						w.logger.Error("bus work stopped; reconnecting", "error", err)
						w.setStatus(busConnecting, err)
						w.wait(ctx, backoff)
					}
					break serving
				}
			}
		}
		nc.Close()
	}
}

// wait blocks until ctx ends, the config changes, or d passes (d > 0).
func (w *workers) wait(ctx context.Context, d time.Duration) {
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

func (w *workers) connect(ctx context.Context, cfg *mailgentConfig) (*nats.Conn, error) {
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
	if err := bus.EnsureStreams(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	if _, _, err := bus.EnsureInbound(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// sameBus tells whether two configs connect the same way for the same domain.
func sameBus(a, b *mailgentConfig) bool {
	return a.NATSURL == b.NATSURL && a.NATSUsername == b.NATSUsername &&
		a.NATSPassword == b.NATSPassword && a.Domain == b.Domain &&
		a.NATSCACert == b.NATSCACert && a.NATSAllowPlaintext == b.NATSAllowPlaintext
}
