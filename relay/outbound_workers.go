package relay

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// The outbound workers: every relay of the domain pulls from one shared
// durable consumer (which the plugin makes) and hands each queued message
// to the state machine (outbound.go).
const (
	// outboundWorkers is how many messages one relay delivers at once.
	outboundWorkers = 4
	// fetchWait is how long one pull waits for a message; it also bounds
	// how long an idle worker takes to notice shutdown.
	fetchWait = 2 * time.Second
)

// outbound runs the delivery workers of one relay.
type outbound struct {
	s      *Server
	host   *smarthost
	logger *slog.Logger
	name   string // this relay, in statuses

	workerGroup
}

// relayName is this relay in reports: -hostname, else the machine's.
func relayName(cfg Config) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return cfg.Domain
}

func newOutbound(s *Server) *outbound {
	o := &outbound{
		s:      s,
		host:   newSmarthost(s.cfg),
		logger: s.logger.With("component", "outbound"),
		name:   relayName(s.cfg),
	}
	o.initWorkers()
	return o
}

// start runs the workers once (later reconnects reuse them); ctx ending
// stops them from taking new messages.
func (o *outbound) start(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) {
	o.startWorkers(ctx, js, kv, o.run)
}

// shutdown waits for the workers (see workerGroup).
func (o *outbound) shutdown(grace context.Context) {
	o.shutdownWorkers(grace, o.logger, "outbound deliveries")
}

func (o *outbound) run(ctx context.Context) {
	defer o.wg.Done()
	// Revoked agents are only known once the directory has been read.
	for ctx.Err() == nil && !o.s.dir.ready() {
		sleepCtx(ctx, 100*time.Millisecond)
	}
	var cons jetstream.Consumer
	for ctx.Err() == nil && cons == nil {
		var err error
		if cons, err = o.bindConsumer(ctx); err != nil {
			o.logger.Warn("outbound consumer; retrying", "error", err)
			sleepCtx(ctx, time.Second)
		}
	}
	if ctx.Err() != nil {
		return
	}
	o.logger.Info("outbound delivery running", "consumer", bus.RelayConsumerName(o.s.cfg.Domain), "workers", outboundWorkers)
	for range outboundWorkers {
		o.wg.Add(1)
		go o.work(ctx, cons)
	}
}

// bindConsumer binds the relays' shared consumer, which the plugin makes
// (a relay changes no stream configuration).
func (o *outbound) bindConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return o.js.Consumer(cctx, bus.OutboundStream, bus.RelayConsumerName(o.s.cfg.Domain))
}

func (o *outbound) work(ctx context.Context, cons jetstream.Consumer) {
	defer o.wg.Done()
	for ctx.Err() == nil {
		if cons == nil {
			c, err := o.bindConsumer(ctx)
			if err != nil {
				if ctx.Err() == nil {
					o.logger.Warn("outbound consumer; retrying", "error", err)
					sleepCtx(ctx, time.Second)
				}
				continue
			}
			cons = c
		}
		// A bounded pull, not one cancelled by ctx: a message the server
		// sent to a pull we had abandoned would wait out AckWait.
		msg, err := cons.Next(jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || ctx.Err() != nil {
				continue
			}
			o.logger.Warn("outbound pull failed; retrying", "error", err)
			cons = nil
			sleepCtx(ctx, time.Second)
			continue
		}
		o.handle(msg)
	}
}
