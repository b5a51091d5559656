package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/version"
	"github.com/mailgent/mailgent/internal/webhook"
)

// Webhook delivery: every relay of the domain pulls the events the plugin
// published (bus.WebhookStream) from one shared durable consumer, and
// POSTs each, signed per the Standard Webhooks spec with the webhook's
// secret (which travels sealed to the relays, bus.SealWebhook). Each
// attempt is reported back (bus.PublishWebhookAttempt) for the webhook's
// deliveries listing:
//
//	forged, altered or undecodable        → Term, logged; nothing reported
//	already in bus.DeliveryBucket         → Ack (delivered before; its ack was lost)
//	agent revoked                         → cancelled, Ack
//	older than webhook.MaxAge             → failed, Term
//	target refused by the policy          → refused, Term (not retried)
//	receiver answered 2xx                 → KV put, delivered, DoubleAck
//	anything else                         → retrying, NakWithDelay(schedule)
//	  … when the next try would pass MaxAge → failed, Term

// Workers and bounds of webhook delivery.
const (
	webhookWorkers = 4
	// maxResponseRead is how much of a receiver's answer is read (and
	// dropped) so the connection closes cleanly.
	maxResponseRead = 64 << 10
	// waitForOthers is when an event this relay cannot handle yet (the
	// plugin's key unknown, sealed to other relays) is offered again.
	waitForOthers = 5 * time.Second
)

// webhooks runs the webhook delivery workers of one relay.
type webhooks struct {
	s        *Server
	logger   *slog.Logger
	name     string // this relay, in attempts
	client   *http.Client
	schedule webhook.Schedule

	workerGroup
}

func newWebhooks(s *Server, schedule webhook.Schedule) *webhooks {
	w := &webhooks{s: s, logger: s.logger.With("component", "webhooks"), name: relayName(s.cfg), schedule: schedule,
		client: webhookClient(s.cfg.WebhookTimeout, nil)}
	w.initWorkers()
	return w
}

// webhookClient POSTs to webhook targets: each connection made by a
// webhook.Dialer (the address checked against the event's policy is the
// one dialled), no proxy, no redirect followed (a 3xx is not a delivery),
// no connection kept (the next event may have another policy). lookup
// resolves names (nil: the system's resolver).
func webhookClient(timeout time.Duration, lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)) *http.Client {
	d := &webhook.Dialer{Timeout: timeout, Lookup: lookup}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:            d.DialContext,
			DisableKeepAlives:      true,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: maxResponseRead,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// start runs the workers once (later reconnects reuse them); ctx ending
// stops them from taking new events.
func (w *webhooks) start(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) {
	w.startWorkers(ctx, js, kv, w.run)
}

// shutdown waits for the workers (see workerGroup).
func (w *webhooks) shutdown(grace context.Context) {
	w.shutdownWorkers(grace, w.logger, "webhook deliveries")
}

func (w *webhooks) run(ctx context.Context) {
	defer w.wg.Done()
	for ctx.Err() == nil && !w.s.dir.ready() {
		sleepCtx(ctx, 100*time.Millisecond)
	}
	var cons jetstream.Consumer
	for warned := false; ctx.Err() == nil && cons == nil; warned = true {
		var err error
		if cons, err = w.bindConsumer(ctx); err != nil {
			if !warned {
				w.logger.Warn("webhook consumer not there yet (the plugin makes it); retrying", "error", err)
			}
			sleepCtx(ctx, 5*time.Second)
		}
	}
	if ctx.Err() != nil {
		return
	}
	w.logger.Info("webhook delivery running", "consumer", bus.WebhookConsumerName(w.s.cfg.Domain), "workers", webhookWorkers,
		"retry", w.schedule.String())
	for range webhookWorkers {
		w.wg.Add(1)
		go w.work(ctx, cons)
	}
}

func (w *webhooks) bindConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return w.js.Consumer(cctx, bus.WebhookStream, bus.WebhookConsumerName(w.s.cfg.Domain))
}

func (w *webhooks) work(ctx context.Context, cons jetstream.Consumer) {
	defer w.wg.Done()
	for ctx.Err() == nil {
		// A bounded pull, not one cancelled by ctx (see outbound.work).
		msg, err := cons.Next(jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || ctx.Err() != nil {
				continue
			}
			w.logger.Warn("webhook pull failed; retrying", "error", err)
			sleepCtx(ctx, time.Second)
			if c, err := w.bindConsumer(ctx); err == nil {
				cons = c
			}
			continue
		}
		w.handle(msg)
	}
}

// hookMsg is one event being handled.
type hookMsg struct {
	msg       jetstream.Msg
	attempt   int
	published time.Time
	ev        *bus.WebhookEvent // once opened
	log       *slog.Logger
}

// hookOutcome is how one event ends this time: the attempt reported (none
// when nil) and how the message is settled.
type hookOutcome struct {
	report *bus.WebhookAttempt
	settle settlement
}

// handle takes one event through its steps, each returning the outcome
// once it is known:
//
//  1. open and check it (open): signed by the plugin, sealed to this relay;
//  2. delivered already? (alreadyDelivered);
//  3. agent revoked? (revoked);
//  4. more than a day old? (expired);
//  5. POST it (deliver);
//
// then finish reports the attempt and settles the message.
func (w *webhooks) handle(msg jetstream.Msg) {
	q := &hookMsg{msg: msg, attempt: 1, published: time.Now(), log: w.logger}
	if md, err := msg.Metadata(); err == nil {
		q.attempt, q.published = int(md.NumDelivered), md.Timestamp
	}
	for _, step := range []func(*hookMsg) *hookOutcome{w.open, w.alreadyDelivered, w.revoked, w.expired, w.deliver} {
		if out := step(q); out != nil {
			w.finish(q, out)
			return
		}
	}
}

// open opens an event the plugin signed and sealed to this relay; a forged
// or altered one is terminated, one sealed to other relays left to them.
func (w *webhooks) open(q *hookMsg) *hookOutcome {
	h := q.msg.Headers()
	ev, err := bus.OpenWebhook(w.s.cfg.Domain, h.Get(jetstream.MsgIDHeader), h.Get(bus.HeaderSeal), q.msg.Data(), w.s.dir.signer(), w.s.key)
	switch {
	case err == nil:
		q.ev = ev
		q.log = w.logger.With("event_id", ev.ID, "type", ev.Type, "agent", ev.Agent, "webhook", ev.Webhook, "attempt", q.attempt)
		return nil
	case len(w.s.dir.signer()) == 0:
		q.log.Warn("webhook event waits: the plugin's signing key is not in the address directory yet")
		return &hookOutcome{settle: nak(waitForOthers)}
	case errors.Is(err, bus.ErrNotSealedToThisRelay):
		q.log.Warn("webhook event not sealed to this relay; left to the others", "error", err)
		return &hookOutcome{settle: nak(waitForOthers)}
	}
	q.log.Error("webhook event refused and terminated", "error", err, "attempt", q.attempt)
	return &hookOutcome{settle: term(err.Error())}
}

// alreadyDelivered acks an event this or another relay delivered already.
func (w *webhooks) alreadyDelivered(q *hookMsg) *hookOutcome {
	ctx, cancel := w.busCtx()
	_, err := w.kv.Get(ctx, bus.WebhookDeliveryKey(q.ev.ID))
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		q.log.Warn("delivery record unreadable; retrying later", "error", err)
		return &hookOutcome{settle: nak(waitForOthers)}
	}
	q.log.Info("webhook event delivered already; not sent again")
	return &hookOutcome{settle: ack()}
}

// revoked cancels the events of an agent revoked since they were made.
func (w *webhooks) revoked(q *hookMsg) *hookOutcome {
	if !w.s.dir.revoked(q.ev.Agent) {
		return nil
	}
	q.log.Info("webhook event cancelled: agent revoked")
	return &hookOutcome{report: w.attempt(q, bus.AttemptCancelled, 0, "agent revoked"), settle: ack()}
}

// expired gives up an event more than webhook.MaxAge old (all relays were
// down, say).
func (w *webhooks) expired(q *hookMsg) *hookOutcome {
	if time.Since(q.published) <= webhook.MaxAge {
		return nil
	}
	q.log.Warn("webhook event given up: more than a day old")
	return &hookOutcome{report: w.attempt(q, bus.AttemptFailed, 0, "given up: the event is more than a day old"), settle: term("expired")}
}

// deliver POSTs the event and decides what follows from the answer.
func (w *webhooks) deliver(q *hookMsg) *hookOutcome {
	start := time.Now()
	stop := bus.KeepInProgress(q.msg, bus.WebhookAckWait/4)
	status, err := w.post(q.ev)
	stop()
	took := time.Since(start)
	log := q.log.With("status", status, "duration", took.Round(time.Millisecond))
	switch {
	case err == nil && status >= 200 && status < 300:
		if err := w.remember(bus.WebhookDeliveryKey(q.ev.ID)); err != nil {
			log.Error("delivered, but the delivery record could not be written; a redelivery could send it twice", "error", err)
		}
		log.Info("webhook event delivered")
		return &hookOutcome{report: w.timed(w.attempt(q, bus.AttemptDelivered, status, ""), took), settle: doubleAck()}
	case errors.Is(err, webhook.ErrRefused):
		log.Warn("webhook target refused; not retried", "error", err)
		return &hookOutcome{report: w.timed(w.attempt(q, bus.AttemptRefused, 0, err.Error()), took), settle: term("target refused")}
	}
	text := fmt.Sprintf("HTTP %d", status)
	if err != nil {
		text = err.Error()
	}
	delay := w.schedule.Delay(q.attempt)
	if time.Since(q.published)+delay > webhook.MaxAge {
		log.Warn("webhook event failed: given up after a day", "error", text)
		a := w.attempt(q, bus.AttemptFailed, status, fmt.Sprintf("given up after %d attempts over a day: %s", q.attempt, text))
		return &hookOutcome{report: w.timed(a, took), settle: term("attempts exhausted")}
	}
	log.Info("webhook event not delivered; retrying", "error", text, "retry_in", delay)
	a := w.attempt(q, bus.AttemptRetrying, status, text)
	next := a.At.Add(delay)
	a.NextRetry = &next
	return &hookOutcome{report: w.timed(a, took), settle: nak(delay)}
}

// post sends the event once, signed now, and returns the receiver's
// status. The URL and every address its host resolves to are checked
// against the event's policy first (webhook.ErrRefused).
func (w *webhooks) post(ev *bus.WebhookEvent) (int, error) {
	if _, err := ev.Target.CheckURL(ev.URL); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(webhook.WithPolicy(w.deliverCtx, ev.Target), w.s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return 0, err
	}
	now := time.Now()
	sig, err := webhook.Sign(ev.Secret, ev.ID, now, ev.Body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mailgent-relay/"+version.Version)
	req.Header.Set(webhook.HeaderID, ev.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without "Post <url>:": the URL may carry a token
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// attempt is the report of this attempt at q's event.
func (w *webhooks) attempt(q *hookMsg, outcome string, status int, text string) *bus.WebhookAttempt {
	ev := q.ev
	return &bus.WebhookAttempt{EventID: ev.ID, Type: ev.Type, Agent: ev.Agent, Webhook: ev.Webhook, WebhookID: ev.WebhookID,
		Attempt: q.attempt, Outcome: outcome, StatusCode: status, Error: text, At: time.Now().UTC(), Relay: w.name}
}

func (w *webhooks) timed(a *bus.WebhookAttempt, took time.Duration) *bus.WebhookAttempt {
	a.DurationMillis = took.Milliseconds()
	return a
}

// finish reports the attempt, then settles the message; a report that
// could not be published is logged (the event's fate does not wait on it).
func (w *webhooks) finish(q *hookMsg, out *hookOutcome) {
	if a := out.report; a != nil {
		if w.s.metrics != nil {
			w.s.metrics.webhooks.WithLabelValues(a.Outcome).Inc()
		}
		err := withRetries(w.s.cfg.PublishTimeout, func(ctx context.Context) error {
			return bus.PublishWebhookAttempt(ctx, w.js, w.s.cfg.Domain, a)
		})
		if err != nil {
			q.log.Warn("webhook attempt not reported", "outcome", a.Outcome, "error", err)
		}
	}
	if err := settleMsg(q.msg, out.settle, w.s.cfg.PublishTimeout); err != nil {
		w.logger.Warn("webhook "+out.settle.op+" failed; the event will be redelivered", "error", err)
	}
}

// remember records a delivery so a redelivered event is not sent again.
func (w *webhooks) remember(key string) error {
	return withRetries(w.s.cfg.PublishTimeout, func(ctx context.Context) error {
		_, err := w.kv.PutString(ctx, key, time.Now().UTC().Format(time.RFC3339))
		return err
	})
}

func (w *webhooks) busCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), w.s.cfg.PublishTimeout)
}
