package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// The outbound state machine: what becomes of one message the plugin
// queued on bus.OutboundStream. Workers (outbound_workers.go) pull it,
// handle takes it through its steps, the smarthost (smarthost.go) delivers
// it, and each result goes back on the status stream (bus.PublishStatus):
//
//	forged, altered or undecodable   → Term (poison), logged; no status
//	already in bus.DeliveryBucket    → status sent (the recorded reply), Ack
//	agent no longer in directory     → status cancelled, Ack
//	smarthost accepted it            → KV put, status sent, DoubleAck
//	5xx to the message               → status failed, Ack
//	temporary failure                → status deferred, NakWithDelay(backoff)
//	  … on attempt MaxDeliveryAttempts → status failed, Term

// maxBackoff caps the delay between delivery attempts.
const maxBackoff = 5 * time.Minute

// backoff is the delay before attempt+1 after attempt failed temporarily:
// 1s, 2s, 4s, … capped at maxBackoff.
func backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 { // 2^19 s is far past the cap; avoid overflow
		return maxBackoff
	}
	d := time.Second << (attempt - 1)
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// queued is one queue message being handled.
type queued struct {
	msg     jetstream.Msg
	attempt int
	ob      *bus.Outbound // once opened
	log     *slog.Logger
}

// outcome is how one queued message ends this time: the status reported
// (none when status is "") and how the queue message is settled.
type outcome struct {
	status, reply string
	settle        settlement
	// unreported, when set, settles instead if the status could not be
	// published, so the message comes back and its status is reported then;
	// unset, the message is settled anyway and the lost status logged.
	unreported settlement
}

// settlement is what the queue message is told: ack, doubleack (ack and
// wait for the server's confirmation), nak (redeliver after delay) or
// term; op "" is no settlement.
type settlement struct {
	op     string
	delay  time.Duration
	reason string
}

func ack() settlement                    { return settlement{op: "ack"} }
func doubleAck() settlement              { return settlement{op: "doubleack"} }
func nak(delay time.Duration) settlement { return settlement{op: "nak", delay: delay} }
func term(reason string) settlement      { return settlement{op: "term", reason: reason} }

// waitFor settles a message that cannot be handled yet: it comes back
// after the attempt's backoff, and nothing is reported.
func waitFor(q *queued) *outcome { return &outcome{settle: nak(backoff(q.attempt))} }

// reportThen reports status and settles with s; a status that could not be
// published is reported again when the message comes back after backoff.
func reportThen(q *queued, status, reply string, s settlement) *outcome {
	return &outcome{status: status, reply: reply, settle: s, unreported: nak(backoff(q.attempt))}
}

// handle takes one queued message through its steps, each a function
// below that returns the outcome once it is known:
//
//  1. open and check it (open): signed by the plugin, sealed to this
//     relay, from an agent of this domain
//  2. already delivered? (alreadyDelivered): this or another relay sent
//     it and its ack or status was lost: report the recorded reply, never
//     send it twice
//  3. revoked? (revoked): the agent was revoked since it was queued:
//     cancelled; an agent the directory does not know yet is waited for
//  4. deliver it to the smarthost (deliver)
//
// then finish: 5. report the outcome's status and 6. settle the queue
// message.
func (o *outbound) handle(msg jetstream.Msg) {
	q := &queued{msg: msg, attempt: 1, log: o.logger}
	if md, err := msg.Metadata(); err == nil {
		q.attempt = int(md.NumDelivered)
	}
	steps := []func(*queued) *outcome{o.open, o.alreadyDelivered, o.revoked, o.deliver}
	for _, step := range steps {
		if out := step(q); out != nil {
			o.finish(q, out)
			return
		}
	}
}

// open reads, checks and opens a queued message. Anything but what the
// plugin signed and sealed to this relay, from an agent of this domain, is
// not delivered: forged or altered mail is terminated; mail sealed only to
// other relays is left to them (offered again later).
func (o *outbound) open(q *queued) *outcome {
	// A blob (payload over bus.InlineLimit) stays until the blob bucket's
	// TTL removes it: a redelivery must still find it.
	payload, err := bus.OutboundPayload(o.deliverCtx, o.s.handles.outboundBlobs(), q.msg)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		q.log.Error("outbound message terminated: its blob is missing", "subject", q.msg.Subject(), "attempt", q.attempt)
		return &outcome{settle: term("blob missing")}
	}
	if err != nil {
		q.log.Warn("outbound blob not readable; retrying", "error", err, "attempt", q.attempt)
		return waitFor(q)
	}
	h := q.msg.Headers()
	ob, err := bus.OpenOutbound(o.s.cfg.Domain, h.Get(jetstream.MsgIDHeader), h.Get(bus.HeaderSeal), payload, o.s.dir.signer(), o.s.key)
	if err == nil {
		err = checkSender(o.s.cfg.Domain, ob)
	}
	switch {
	case err == nil:
		q.ob = ob
		q.log = o.logger.With("id", ob.ID, "message_id", ob.MessageID, "agent", ob.Agent, "attempt", q.attempt)
		return nil
	case len(o.s.dir.signer()) == 0:
		q.log.Warn("outbound message waits: the plugin's signing key is not in the address directory yet", "attempt", q.attempt)
		return waitFor(q)
	case errors.Is(err, bus.ErrNotSealedToThisRelay):
		q.log.Warn("outbound message not sealed to this relay; left to the others", "error", err, "attempt", q.attempt)
		return waitFor(q)
	}
	q.log.Error("outbound message refused and terminated", "error", err, "subject", q.msg.Subject(), "size", len(payload), "attempt", q.attempt)
	return &outcome{settle: term(err.Error())}
}

// checkSender is the relay's own check that a queued message is what the
// plugin may send: an agent's own address in this relay's domain.
func checkSender(domain string, ob *bus.Outbound) error {
	if ob.ID == "" || ob.Agent == "" {
		return fmt.Errorf("%w: no id or agent", bus.ErrForgedOutbound)
	}
	if !strings.EqualFold(ob.MailFrom, ob.Agent+"@"+domain) {
		return fmt.Errorf("%w: envelope sender %q is not agent %q of %s", bus.ErrForgedOutbound, ob.MailFrom, ob.Agent, domain)
	}
	return nil
}

// alreadyDelivered reports, from the delivery record, a message this or
// another relay already delivered (its ack was lost, or the status
// publish failed).
func (o *outbound) alreadyDelivered(q *queued) *outcome {
	ctx, cancel := o.busCtx()
	entry, err := o.kv.Get(ctx, deliveryKey(q.ob.ID))
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		q.log.Warn("delivery record unreadable; retrying later", "error", err)
		return waitFor(q)
	}
	reply := string(entry.Value())
	q.log.Info("outbound message already delivered; reporting it", "outcome", bus.StatusSent, "reply", reply)
	return reportThen(q, bus.StatusSent, reply, doubleAck())
}

// revoked cancels mail of an agent revoked since it was queued. An agent
// the directory does not know yet (just created, or a lagging sync) is
// waited for, not cancelled.
func (o *outbound) revoked(q *queued) *outcome {
	agent := q.ob.Agent
	switch live, ready := o.s.dir.lookup(agent); {
	case o.s.dir.revoked(agent):
		q.log.Info("outbound message cancelled: agent revoked", "outcome", bus.StatusCancelled)
		return reportThen(q, bus.StatusCancelled, "agent revoked", ack())
	case ready && !live:
		q.log.Info("outbound message waits: agent not in the address directory yet")
		return waitFor(q)
	}
	return nil
}

// deliver hands the message to the smarthost, keeping the queue message
// in progress meanwhile, and returns the outcome of the attempt.
func (o *outbound) deliver(q *queued) *outcome {
	start := time.Now()
	stop := bus.KeepInProgress(q.msg, bus.RelayConsumerConfig(o.s.cfg.Domain).AckWait/4)
	reply, err := o.host.deliver(o.deliverCtx, q.ob)
	stop()
	log := q.log.With("rcpts", len(q.ob.Rcpts), "size", len(q.ob.Raw), "smarthost", o.host.addr,
		"duration", time.Since(start).Round(time.Millisecond))
	switch {
	case err == nil:
		return o.sent(q, log, reply)
	case isPermanent(err):
		text := replyText(err)
		log.Warn("outbound message failed", "outcome", bus.StatusFailed, "reply", text)
		return reportThen(q, bus.StatusFailed, text, ack())
	case q.attempt >= bus.MaxDeliveryAttempts:
		text := fmt.Sprintf("giving up after %d attempts: %s", q.attempt, replyText(err))
		log.Warn("outbound message failed", "outcome", bus.StatusFailed, "reply", text)
		return &outcome{status: bus.StatusFailed, reply: text, settle: term("delivery attempts exhausted")}
	}
	text, delay := replyText(err), backoff(q.attempt)
	log.Info("outbound message deferred", "outcome", bus.StatusDeferred, "reply", text, "retry_in", delay)
	return &outcome{status: bus.StatusDeferred, reply: text, settle: nak(delay)}
}

// sent records a delivery before reporting it: from then on, a redelivery
// only reports. Without the record a redelivery could send the message
// twice, so a status that could not be published is not retried either.
func (o *outbound) sent(q *queued, log *slog.Logger, reply string) *outcome {
	out := &outcome{status: bus.StatusSent, reply: reply, settle: doubleAck()}
	if err := o.remember(deliveryKey(q.ob.ID), reply); err != nil {
		log.Error("delivered, but the delivery record could not be written; a redelivery could send it twice", "error", err)
	} else {
		out.unreported = nak(backoff(1))
	}
	log.Info("outbound message sent", "outcome", bus.StatusSent, "reply", reply)
	return out
}

// finish reports the outcome's status, then settles the queue message.
func (o *outbound) finish(q *queued, out *outcome) {
	s := out.settle
	if out.status != "" {
		if err := o.report(q.ob, out.status, out.reply, q.attempt); err != nil {
			switch {
			case out.unreported.op != "":
				q.log.Warn("status not published; the message comes back to report it", "status", out.status, "error", err)
				s = out.unreported
			case out.status == bus.StatusDeferred:
				q.log.Warn("deferred status not published", "error", err)
			default:
				q.log.Error("status not published", "status", out.status, "error", err)
			}
		}
	}
	o.settle(q.msg, s)
}

// settle acks, naks or terms, logging a failure (the message then comes
// back after AckWait).
func (o *outbound) settle(msg jetstream.Msg, s settlement) {
	if err := settleMsg(msg, s, o.s.cfg.PublishTimeout); err != nil {
		o.logger.Warn("outbound "+s.op+" failed; the message will be redelivered", "error", err)
	}
}

// settleMsg tells msg s; a double ack waits up to timeout for the server.
func settleMsg(msg jetstream.Msg, s settlement, timeout time.Duration) error {
	switch s.op {
	case "ack":
		return msg.Ack()
	case "doubleack":
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return msg.DoubleAck(ctx)
	case "nak":
		return msg.NakWithDelay(s.delay)
	case "term":
		return msg.TermWithReason(s.reason)
	}
	return nil
}

// busCtx bounds one bus operation. It is not the run context: during
// shutdown, in-flight messages still get their status and ack.
func (o *outbound) busCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.s.cfg.PublishTimeout)
}

// remember records a delivery, with a few quick retries: a missing record
// is what could make a redelivery send twice.
func (o *outbound) remember(key, reply string) error {
	return o.withRetries(func(ctx context.Context) error {
		_, err := o.kv.PutString(ctx, key, reply)
		return err
	})
}

// report publishes one delivery status, with a few quick retries.
func (o *outbound) report(ob *bus.Outbound, status, reply string, attempt int) error {
	if o.s.metrics != nil {
		o.s.metrics.outbound.WithLabelValues(status).Inc()
	}
	st := &bus.DeliveryStatus{
		ID: ob.ID, Agent: ob.Agent, Status: status, Reply: reply,
		Attempt: attempt, At: time.Now().UTC(), Relay: o.name,
	}
	return o.withRetries(func(ctx context.Context) error {
		return bus.PublishStatus(ctx, o.js, o.s.cfg.Domain, st)
	})
}

// withRetries runs f with withRetries below, under the bus timeout.
func (o *outbound) withRetries(f func(context.Context) error) error {
	return withRetries(o.s.cfg.PublishTimeout, f)
}

// withRetries runs f up to three times, each under its own context of
// timeout (not the run context: at shutdown, what is in flight still
// reports), pausing a little longer before each retry.
func withRetries(timeout time.Duration, f func(context.Context) error) error {
	var err error
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Duration(i) * 250 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = f(ctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// kvKeyRe is what a delivery key may be used as-is: KV keys allow more,
// but without dots the hashed form below ("sha256.<hex>") never collides.
var kvKeyRe = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

// deliveryKey is a message ID as a key of bus.DeliveryBucket.
func deliveryKey(id string) string {
	if kvKeyRe.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256." + hex.EncodeToString(sum[:])
}
