package relay

import (
	"context"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// workerGroup is the lifecycle the relay's delivery workers share —
// outbound mail and webhook events: started once, on the first connection
// to the bus (later reconnects reuse them), and stopped at shutdown, where
// deliveries still running when the grace period ends are cut and retried
// later, by this or another relay.
type workerGroup struct {
	// deliverCtx is cancelled when the shutdown grace period ends: it cuts
	// deliveries still running then.
	deliverCtx context.Context
	cutShort   context.CancelFunc

	mu      sync.Mutex
	started bool
	stopped bool
	wg      sync.WaitGroup

	js jetstream.JetStream
	kv jetstream.KeyValue
}

// initWorkers readies g.
func (g *workerGroup) initWorkers() {
	g.deliverCtx, g.cutShort = context.WithCancel(context.Background())
}

// startWorkers runs run once in the group (it calls g.wg.Done when it
// returns); ctx ending stops it from taking new work.
func (g *workerGroup) startWorkers(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, run func(context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.stopped {
		return
	}
	g.started, g.js, g.kv = true, js, kv
	g.wg.Add(1)
	go run(ctx)
}

// shutdownWorkers waits for the workers; when grace ends first, the
// deliveries still running are cut.
func (g *workerGroup) shutdownWorkers(grace context.Context, logger *slog.Logger, what string) {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-grace.Done():
		logger.Warn(what + " cut short at shutdown; they will be retried")
		g.cutShort()
		<-done
	}
	g.cutShort()
}
