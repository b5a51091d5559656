package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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
)

// Server is one relay process: the SMTP listener and its NATS connection.
// It keeps no state of its own; any number may run behind one MX.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	smtp     *smtp.Server
	dir      *directory
	limits   mailparse.Limits
	resolver mailauth.Resolver // nil: sender authentication off
	out      *outbound         // nil: outbound delivery off (no -smarthost)
	sealer   *bus.Sealer
	key      *bus.RelayKey
	keyID    string
	rates    *rateLimits

	mu  sync.Mutex
	js  jetstream.JetStream
	obs jetstream.ObjectStore
	// outObs is the outbound blob store (read only for a relay).
	outObs jetstream.ObjectStore
	// watching is set once the directory watch runs (it survives reconnects).
	watching bool
}

// New builds a server from a validated config. It does not listen yet.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, created, err := bus.LoadOrCreateRelayKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("-key-file: %w", err)
	}
	pub, err := key.Public()
	if err != nil {
		return nil, fmt.Errorf("-key-file: %w", err)
	}
	s := &Server{cfg: cfg, logger: logger, dir: newDirectory(cfg.Domain, logger.With("component", "directory")), limits: mailparse.DefaultLimits(),
		key: key, keyID: bus.KeyID(pub.SigningKey), sealer: bus.NewSealer(key),
		rates: newRateLimits(cfg.RatePerIP, cfg.RatePerSenderDomain)}
	if created {
		logger.Warn("made a new relay key: register it with the plugin before this relay can accept mail",
			"key_file", cfg.KeyFile, "key_id", s.keyID, "register", "vault write <mount>/config/relays/<name> $(mailgent-relay -print-registration -key-file "+cfg.KeyFile+")")
	}
	if cfg.SenderAuth {
		s.resolver = newResolver(cfg.Resolver)
	}

	srv := smtp.NewServer(&sessionFactory{s: s})
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
	s.smtp = srv
	if cfg.Smarthost != "" {
		s.out = newOutbound(s)
	}
	return s, nil
}

// newResolver returns the system resolver for an empty addr, else Go's
// resolver sending every query to addr, over the network it picks (UDP,
// TCP for a truncated answer).
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// Run connects to NATS, serves SMTP on l until ctx is cancelled, then shuts
// down gracefully: no new sessions, open ones get ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
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
	if s.out == nil {
		s.logger.Info("outbound delivery off: no -smarthost")
	} else {
		s.logger.Info("outbound delivery on", "smarthost", s.cfg.Smarthost, "smarthost_tls", s.cfg.SmarthostTLS,
			"smarthost_auth", s.cfg.SmarthostUser != "", "smarthost_insecure_skip_verify", s.cfg.SmarthostInsecureSkipVerify)
		if s.cfg.SmarthostUser != "" && s.cfg.SmarthostTLS == "none" {
			s.logger.Warn("smarthost credentials are sent unencrypted (-smarthost-tls none)")
		}
		if s.cfg.SmarthostInsecureSkipVerify && s.cfg.SmarthostTLS != "none" {
			s.logger.Warn("the smarthost's TLS certificate is not verified (-smarthost-insecure-skip-verify)")
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- s.smtp.Serve(newLimitListener(l, s.cfg.MaxSessionsPerIP)) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// Outbound workers stopped taking messages with ctx; deliveries in
	// flight finish (and report, over the still-open connection) within the
	// same grace period as the SMTP sessions.
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		if s.out != nil {
			s.out.shutdown(sctx)
		}
	}()
	if err := s.smtp.Shutdown(sctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		s.logger.Warn("sessions cut short at shutdown", "error", err)
		_ = s.smtp.Close()
	}
	<-outDone
	if err := nc.Drain(); err != nil {
		s.logger.Warn("NATS drain", "error", err)
	}
	s.logger.Info("stopped")
	return nil
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
			s.mu.Lock()
			s.js, s.obs, s.outObs = js, b.InboundBlobs, b.OutboundBlobs
			startWatch := !s.watching
			s.watching = true
			s.mu.Unlock()
			if startWatch {
				go s.dir.run(ctx, b.Directory)
			}
			if s.out != nil {
				s.out.start(ctx, js, b.Delivered) // once; later calls do nothing
			}
			s.logger.Info("NATS connected, streams ready", "url", nc.ConnectedUrlRedacted())
			return
		}
	}()
}

// bus returns the JetStream handles, nil until connected once.
func (s *Server) bus() (jetstream.JetStream, jetstream.ObjectStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.js, s.obs
}

// outboundBlobs returns the outbound blob store, nil until connected once.
func (s *Server) outboundBlobs() jetstream.ObjectStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outObs
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

// PrintRegistration writes the public halves of the relay key at path
// (made if missing) as "signing_key=… sealing_key=…", the arguments of
// `vault write <mount>/config/relays/<name>`.
func PrintRegistration(w io.Writer, path string) error {
	key, _, err := bus.LoadOrCreateRelayKey(path)
	if err != nil {
		return fmt.Errorf("-key-file: %w", err)
	}
	pub, err := key.Public()
	if err != nil {
		return err
	}
	reg := pub.Registration()
	_, err = fmt.Fprintf(w, "signing_key=%s sealing_key=%s\n", reg["signing_key"], reg["sealing_key"])
	return err
}
