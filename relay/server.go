package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailauth"
	"github.com/mailgent/mailgent/internal/mailparse"
	"github.com/mailgent/mailgent/internal/version"
	"github.com/mailgent/mailgent/internal/webhook"
)

// Server is one relay process: the SMTP listener, its NATS connection and
// the wiring between them — sessions (session.go) hand mail to the
// delivery (delivery.go), which publishes through the bus handles bound
// here; the outbound workers (outbound_workers.go) deliver queued mail. It
// keeps no state of its own; any number may run behind one MX.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	smtp     *smtp.Server
	dir      *directory
	limits   mailparse.Limits
	resolver mailauth.Resolver // nil: sender authentication off
	out      *outbound         // nil: outbound delivery off (no -smarthost)
	hooks    *webhooks         // nil: webhook delivery off (-webhooks=false)
	sealer   *bus.Sealer
	key      *bus.RelayKey
	keyID    string
	rates    *rateLimits
	metrics  *metrics

	// handles are the plugin's streams and buckets, once bound;
	// inboundBus publishes inbound mail through them (a fake in tests).
	handles    busHandles
	inboundBus inboundBus
}

// New builds a server from a validated config. It does not listen yet.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, keyID, err := loadKey(cfg, logger)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, dir: newDirectory(cfg.Domain, logger.With("component", "directory")), limits: mailparse.DefaultLimits(),
		key: key, keyID: keyID, sealer: bus.NewSealer(key),
		rates: newRateLimits(cfg.RatePerIP, cfg.RatePerSenderDomain), metrics: newMetrics()}
	s.handles.domain = cfg.Domain
	s.inboundBus = &s.handles
	if cfg.SenderAuth {
		s.resolver = newResolver(cfg.Resolver, cfg.DNSCacheEntries, cfg.DNSCacheMaxTTL)
	}
	if s.smtp, err = newSMTPServer(cfg, &sessionFactory{s: s}, logger); err != nil {
		return nil, err
	}
	if cfg.Smarthost != "" {
		s.out = newOutbound(s)
	}
	if cfg.Webhooks {
		schedule, _ := webhook.ParseSchedule(cfg.WebhookRetry) // Validate checked it
		s.hooks = newWebhooks(s, schedule)
	}
	return s, nil
}

// newSMTPServer is go-smtp's server with the configured limits and TLS.
func newSMTPServer(cfg Config, backend smtp.Backend, logger *slog.Logger) (*smtp.Server, error) {
	srv := smtp.NewServer(backend)
	srv.Addr = cfg.ListenAddr
	srv.Domain = cfg.Hostname
	if srv.Domain == "" {
		srv.Domain = cfg.Domain
	}
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.ErrorLog = log.New(&slogWriter{logger: logger.With("component", "smtp")}, "", 0)
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert, -tls-key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return srv, nil
}

// Run connects to NATS, serves SMTP on l until ctx is cancelled, then shuts
// down gracefully: no new sessions, open ones get ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	if s.cfg.MetricsListen != "" {
		if err := s.metrics.serve(ctx, s.cfg.MetricsListen, s.logger); err != nil {
			return fmt.Errorf("-metrics-listen: %w", err)
		}
	}
	nc, err := bus.Connect(s.cfg.NATS,
		nats.RetryOnFailedConnect(true), // start and greet even while NATS is down
		nats.ConnectHandler(func(nc *nats.Conn) { s.onConnect(ctx, nc) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.logger.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.logger.Warn("NATS disconnected", "error", err)
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	if nc.IsConnected() {
		s.onConnect(ctx, nc)
	}
	defer nc.Close()
	s.logStart(l)

	errc := make(chan error, 1)
	go func() { errc <- s.smtp.Serve(newLimitListener(l, s.cfg.MaxSessionsPerIP)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.shutdown()
	if err := nc.Drain(); err != nil {
		s.logger.Warn("NATS drain", "error", err)
	}
	s.logger.Info("stopped")
	return nil
}

// logStart says what this relay runs with.
func (s *Server) logStart(l net.Listener) {
	s.logger.Info("relay listening", "addr", l.Addr().String(), "domain", s.cfg.Domain, "key_id", s.keyID,
		"version", version.String(), "max_message_bytes", s.cfg.MaxMessageBytes,
		"starttls", s.smtp.TLSConfig != nil)
	switch {
	case s.resolver == nil:
		s.logger.Info("sender authentication off: -sender-auth=false")
	case s.cfg.Resolver != "":
		s.logger.Info("sender authentication on", "resolver", s.cfg.Resolver)
	default:
		s.logger.Info("sender authentication on", "resolver", "system")
	}
	if s.hooks == nil {
		s.logger.Info("webhook delivery off: -webhooks=false")
	}
	if s.out == nil {
		s.logger.Info("outbound delivery off: no -smarthost")
		return
	}
	s.logger.Info("outbound delivery on", "smarthost", s.cfg.Smarthost, "smarthost_tls", s.cfg.SmarthostTLS,
		"smarthost_auth", s.cfg.SmarthostUser != "", "smarthost_insecure_skip_verify", s.cfg.SmarthostInsecureSkipVerify)
	if s.cfg.SmarthostUser != "" && s.cfg.SmarthostTLS == "none" {
		s.logger.Warn("smarthost credentials are sent unencrypted (-smarthost-tls none)")
	}
	if s.cfg.SmarthostInsecureSkipVerify && s.cfg.SmarthostTLS != "none" {
		s.logger.Warn("the smarthost's TLS certificate is not verified (-smarthost-insecure-skip-verify)")
	}
}

// shutdown stops taking sessions and gives open sessions and deliveries
// in flight ShutdownTimeout to finish. The outbound workers stopped taking
// messages with Run's context; deliveries in flight finish (and report,
// over the still-open connection) within the same grace period.
func (s *Server) shutdown() {
	s.logger.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		if s.out != nil {
			s.out.shutdown(sctx)
		}
		if s.hooks != nil {
			s.hooks.shutdown(sctx)
		}
	}()
	if err := s.smtp.Shutdown(sctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		s.logger.Warn("sessions cut short at shutdown", "error", err)
		_ = s.smtp.Close()
	}
	<-outDone
}

// onConnect binds to the plugin's streams and buckets whenever a
// connection is made, waiting for them if the plugin has not made them
// yet: relay and plugin may start in any order, and a relay never creates
// or changes stream configuration (its NATS user may not).
func (s *Server) onConnect(ctx context.Context, nc *nats.Conn) {
	js, err := jetstream.New(nc)
	if err != nil {
		s.logger.Error("JetStream", "error", err)
		return
	}
	go func() {
		for ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := bus.Bind(cctx, js)
			cancel()
			if err != nil {
				s.logger.Warn("the plugin's streams and buckets are not there yet (the plugin creates them); retrying", "error", err)
				sleepCtx(ctx, time.Second)
				continue
			}
			if first := s.handles.bind(js, b); first {
				go s.dir.run(ctx, b.Directory) // the watch survives reconnects
			}
			if s.out != nil {
				s.out.start(ctx, js, b.Delivered) // once; later calls do nothing
			}
			if s.hooks != nil {
				s.hooks.start(ctx, js, b.Delivered)
			}
			s.logger.Info("NATS connected, streams ready", "url", nc.ConnectedUrlRedacted())
			return
		}
	}()
}

// busHandles are the JetStream handles a relay binds to (bus.Bind), nil
// until bound once; they publish inbound mail (inboundBus).
type busHandles struct {
	domain string

	mu  sync.Mutex
	js  jetstream.JetStream
	bus *bus.Relay
}

// bind keeps the handles of a binding; first tells the first one.
func (h *busHandles) bind(js jetstream.JetStream, b *bus.Relay) (first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first = h.js == nil
	h.js, h.bus = js, b
	return first
}

func (h *busHandles) ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.js != nil
}

func (h *busHandles) publish(ctx context.Context, agent, id string, sealed []byte) (bool, error) {
	h.mu.Lock()
	js, b := h.js, h.bus
	h.mu.Unlock()
	if js == nil {
		return false, errBusNotReady
	}
	return bus.Publish(ctx, js, b.InboundBlobs, h.domain, agent, id, sealed)
}

// outboundBlobs is the outbound blob store (read only), nil until bound.
func (h *busHandles) outboundBlobs() jetstream.ObjectStore {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bus == nil {
		return nil
	}
	return h.bus.OutboundBlobs
}

// slogWriter adapts go-smtp's log.Logger to slog.
type slogWriter struct{ logger *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.logger.Warn(msg)
	return len(p), nil
}
