package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus metrics, served on -metrics-listen at
// /metrics. A registry per Server: nothing at package level.
type metrics struct {
	reg           *prometheus.Registry
	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	replies       *prometheus.CounterVec
	publish       prometheus.Histogram
	stage         *prometheus.HistogramVec
	trust         *prometheus.CounterVec
	outbound      *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mailgent_relay_smtp_sessions",
		Help: "SMTP sessions open now."})
	m.sessionsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_relay_smtp_sessions_total",
		Help: "SMTP sessions opened."})
	m.replies = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_relay_smtp_replies_total",
		Help: "Replies to MAIL FROM, RCPT TO and DATA, by command and reply code (DATA 250: a message accepted)."}, []string{"command", "code"})
	m.publish = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mailgent_relay_publish_seconds",
		Help:    "Time from a copy's seal to JetStream's acknowledgement.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	m.stage = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mailgent_relay_data_stage_seconds",
		Help:    "Time a message spends in each step after DATA before its copies are published: parse (MIME, codes, links), sender_auth (DKIM, SPF and DMARC with their DNS lookups).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"stage"})
	m.trust = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_relay_sender_trust_total",
		Help: "Accepted messages by sender verdict (verified, unverified)."}, []string{"trust"})
	m.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_relay_outbound_total",
		Help: "Outbound delivery outcomes reported, by status (sent, deferred, failed, cancelled)."}, []string{"status"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_relay_webhook_attempts_total",
		Help: "Webhook delivery attempts reported, by outcome (delivered, retrying, failed, refused, cancelled)."}, []string{"outcome"})
	m.reg.MustRegister(m.sessions, m.sessionsTotal, m.replies, m.publish, m.stage, m.trust, m.outbound, m.webhooks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// reply counts the reply to command and returns err unchanged.
func (m *metrics) reply(command string, err error) error {
	code := 250
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		code = se.Code
	} else if err != nil {
		code = 0
	}
	m.replies.WithLabelValues(command, strconv.Itoa(code)).Inc()
	return err
}

// serveMetrics serves /metrics on addr until ctx ends.
func (m *metrics) serve(ctx context.Context, addr string, logger *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "error", err)
		}
	}()
	logger.Info("metrics served", "url", "http://"+l.Addr().String()+"/metrics")
	return nil
}
