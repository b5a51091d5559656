package plugin

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// pluginMetrics are the engine's counters, read at mailgent/metrics in
// Prometheus text format. A registry per mount (backend): ServeMultiplex
// runs several in one process, and nothing lives at package level.
type pluginMetrics struct {
	reg      *prometheus.Registry
	inbound  *prometheus.CounterVec // outcome: stored, duplicate, deferred, terminated, dropped
	store    prometheus.Histogram
	audit    prometheus.Counter
	auditPut prometheus.Counter
	totp     prometheus.Counter
	evicted  prometheus.Counter
	queued   prometheus.Counter
	statuses *prometheus.CounterVec
	webhooks *prometheus.CounterVec // outcome: queued, dropped, and the relays' attempt outcomes
	// consumer is the inbound consumer while the bus work runs, for the lag.
	consumer atomic.Pointer[jetstream.Consumer]
}

func newPluginMetrics(b *backend) *pluginMetrics {
	m := &pluginMetrics{reg: prometheus.NewRegistry()}
	m.inbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_inbound_messages_total",
		Help: "Inbound messages handled by this node, by outcome (stored, duplicate, deferred: inbox full, terminated: poison or forged, dropped: agent revoked or unknown)."}, []string{"outcome"})
	m.store = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mailgent_inbound_store_seconds",
		Help:    "Time to store one inbound message in Vault storage.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}})
	m.audit = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_audit_events_total", Help: "Audit events written."})
	m.auditPut = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_audit_writes_total",
		Help: "Storage writes of audit events: events over writes is how many the group commit put in one."})
	m.totp = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_totp_codes_total", Help: "TOTP codes handed out."})
	m.evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_inbox_indexes_evicted_total",
		Help: "Inbox indexes dropped from memory to stay within max_loaded_inboxes (loaded again on use)."})
	m.queued = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgent_outbound_queued_total", Help: "Outbound messages queued for the relays."})
	m.statuses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_outbound_status_total",
		Help: "Delivery results recorded, by status."}, []string{"status"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgent_webhook_events_total",
		Help: "Webhook events queued or dropped by this node, and delivery attempts recorded, by outcome (queued, dropped, delivered, retrying, failed, refused, cancelled)."}, []string{"outcome"})
	m.reg.MustRegister(m.inbound, m.store, m.audit, m.auditPut, m.totp, m.evicted, m.queued, m.statuses, m.webhooks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mailgent_inbox_indexes_loaded",
			Help: "Agents whose inbox index this node holds in memory."}, func() float64 { n, _ := b.indexSizes(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mailgent_inbox_messages_indexed",
			Help: "Messages in the inbox indexes this node holds (memory grows with this)."}, func() float64 { _, n := b.indexSizes(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mailgent_bus_connected",
			Help: "1 while this node's bus work is connected to NATS."}, func() float64 {
			st, _ := b.supervisor.status()
			return boolFloat(st == busConnected)
		}),
		&lagCollector{m: m},
		// The plugin process's own memory and CPU (go_memstats_*,
		// process_resident_memory_bytes, …): what sizing needs (docs/deploy.md).
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// lagCollector reports the inbound consumer's backlog, asked of JetStream
// at scrape time (briefly: a scrape must not hang on a lost server).
type lagCollector struct{ m *pluginMetrics }

var (
	lagPendingDesc = prometheus.NewDesc("mailgent_inbound_consumer_pending", "Inbound messages not yet delivered to the plugin.", nil, nil)
	lagAckDesc     = prometheus.NewDesc("mailgent_inbound_consumer_ack_pending", "Inbound messages delivered but not yet acked.", nil, nil)
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagPendingDesc; ch <- lagAckDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	cons := c.m.consumer.Load()
	if cons == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := (*cons).Info(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(lagPendingDesc, prometheus.GaugeValue, float64(info.NumPending))
	ch <- prometheus.MustNewConstMetric(lagAckDesc, prometheus.GaugeValue, float64(info.NumAckPending))
}

// text renders every metric in Prometheus text format.
func (m *pluginMetrics) text() ([]byte, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// servedBy names the process that answered a request: Vault's standbys
// forward requests to the active node, so this is the active node's plugin.
func servedBy() string {
	host, _ := os.Hostname()
	return host + "/pid " + strconv.Itoa(os.Getpid())
}
