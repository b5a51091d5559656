package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// The consumers of the active node: inbound mail into the agents' inboxes
// (consumeInbound, handleInbound), and the relays' delivery results into
// the sent records (consumeStatus, handleStatus). A message is acked only
// after its Vault storage write returned nil (docs/architecture.md,
// invariant 1).

const (
	// inboundWorkers is how many inbound messages are stored at once: each
	// is a storage write and its share of an audit write (gRPC calls into
	// Vault, on Raft each waiting for a commit), and only the per-agent
	// index serialises them. On Raft, concurrent writes share a commit:
	// 32 drained a backlog about twice as fast as 8 (docs/benchmarks.md).
	// A stream message is at most bus.InlineLimit (512 KiB); a larger
	// message's blob is fetched by at most largeInboundAtOnce workers, so
	// what is in memory stays bounded.
	inboundWorkers     = 32
	largeInboundAtOnce = 4
	// inboundRetry is when JetStream offers a message again after a
	// transient failure.
	inboundRetry = 2 * time.Second
	// inboxFullRetry is when JetStream offers a message again that a full
	// inbox deferred; by then older mail has aged past max_wait_timeout.
	inboxFullRetry = 15 * time.Second
	// inboundFinishTimeout bounds the storing of one message, and so how
	// long stopping the bus work waits for the messages in hand.
	inboundFinishTimeout = 10 * time.Second
	// statusRetry is when a delivery result that could not be recorded
	// comes again.
	statusRetry = time.Second
)

// payloadOpener opens a sealed inbound payload; a *bus.Opener is one.
type payloadOpener interface {
	Open(domain, agent, id, version string, sealed []byte) (*bus.Payload, error)
}

// consumeStatus records the relays' delivery results as they come, until
// the returned stop is called.
func (b *backend) consumeStatus(ctx context.Context, s logical.Storage, cons jetstream.Consumer) (stop func(), err error) {
	cc, err := cons.Consume(func(m jetstream.Msg) { b.handleStatus(ctx, s, m) })
	if err != nil {
		return nil, fmt.Errorf("delivery status consumer: %w", err)
	}
	return cc.Stop, nil
}

// handleStatus records one delivery result on its sent record and tells
// webhooks of a final sent or failed: acked once both are done, retried on
// a storage error, terminated if it does not decode.
func (b *backend) handleStatus(ctx context.Context, s logical.Storage, m busMsg) {
	var ds bus.DeliveryStatus
	if err := json.Unmarshal(m.Data(), &ds); err != nil {
		_ = m.TermWithReason("undecodable delivery status")
		return
	}
	st, rec, err := b.applyStatus(ctx, s, &ds)
	if err == nil && rec != nil && (rec.Status == bus.StatusSent || rec.Status == bus.StatusFailed) {
		err = b.emitSent(ctx, s, st, rec, ds.At)
	}
	if err != nil {
		b.logger.Warn("record delivery status; retrying", "id", ds.ID, "error", err)
		_ = m.NakWithDelay(statusRetry)
		return
	}
	_ = m.Ack()
}

// consumeInbound pulls inbound mail and stores it with inboundWorkers
// workers until ctx ends. Stopping, it stops pulling but stores what it
// pulled already (see inboundFinishTimeout), rather than leave it to be
// delivered again after AckWait.
func (b *backend) consumeInbound(ctx context.Context, s logical.Storage, ob *openedBuses, inboundPrivate []byte, cfg *mailgentConfig) error {
	// Heartbeats every inboundHeartbeat: a pull parked on a stream leader
	// that died is noticed, and made again on the new leader, within two
	// of them — not after the default 30 s pull expiry.
	it, err := ob.inbound.Messages(jetstream.PullMaxMessages(2*inboundWorkers),
		jetstream.PullExpiry(inboundPullExpiry), jetstream.PullHeartbeat(inboundHeartbeat))
	if err != nil {
		return fmt.Errorf("inbound consumer: %w", err)
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Drain()
	}()
	if _, err := b.relays(ctx, s); err != nil {
		return err
	}
	opener, err := bus.NewOpener(inboundPrivate, &b.relayReg)
	if err != nil {
		return err
	}
	b.opener.Store(opener)
	defer b.opener.Store(nil)
	b.metrics.consumer.Store(&ob.inbound)
	defer b.metrics.consumer.Store(nil)
	b.logger.Info("inbound consumer started", "domain", cfg.Domain, "consumer", bus.ConsumerName(cfg.Domain))
	next := func() (busMsg, error) { return it.Next() }
	return b.storeInbound(ctx, s, ob.bus, opener, cfg, next)
}

// The inbound pull's lifetime and heartbeat (see consumeInbound).
const (
	inboundPullExpiry = 10 * time.Second
	inboundHeartbeat  = 2 * time.Second
)

// storeInbound hands each message next pulls to a worker, until next
// fails: the end of the pull (nil) or an error of the consumer.
func (b *backend) storeInbound(ctx context.Context, s logical.Storage, mb mailBus, opener payloadOpener, cfg *mailgentConfig, next func() (busMsg, error)) error {
	work := make(chan busMsg)
	var wg sync.WaitGroup
	for range inboundWorkers {
		wg.Go(func() {
			for m := range work {
				// A message in hand when the bus work stops (a config
				// change, step-down, Clean) is finished, not cut off: cut
				// off, it would wait out AckWait before coming again.
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inboundFinishTimeout)
				b.handleInbound(hctx, s, mb, opener, b.supervisor.liveConfig(cfg), m)
				cancel()
			}
		})
	}
	defer wg.Wait()
	defer close(work)
	for {
		m, err := next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("inbound consumer: %w", err)
		}
		work <- m
	}
}

// inboundMsg is one inbound message being handled: the headers the
// plugin acts on, and its settling, each logged.
type inboundMsg struct {
	m                       busMsg
	id, agent, domain, blob string
	log                     hclog.Logger
	metrics                 *pluginMetrics
}

// term refuses a message for good: it is not mail a relay accepted.
func (in *inboundMsg) term(reason string) {
	in.log.Error("inbound message terminated", "reason", reason)
	in.metrics.inbound.WithLabelValues("terminated").Inc()
	_ = in.m.TermWithReason(reason)
}

// retry has JetStream offer the message again after a transient failure.
func (in *inboundMsg) retry(err error) {
	in.log.Warn("inbound message will be retried", "error", err)
	_ = in.m.NakWithDelay(inboundRetry)
}

// deferFull has JetStream keep the message a full inbox cannot take yet:
// nothing is lost, nothing is evicted.
func (in *inboundMsg) deferFull(err error) {
	in.log.Warn("inbound message deferred", "reason", err, "retry_in", inboxFullRetry)
	_ = in.m.NakWithDelay(inboxFullRetry)
}

// handleInbound stores one inbound message. The steps:
//
//  1. check the headers it acts on: refused (terminated) if any is wrong;
//  2. load the agent: mail for an unknown agent, or one revoked since the
//     relay took it, is acked and dropped — a revoked agent's on its audit
//     trail as denied (dropInbound);
//  3. fetch and open the sealed payload (openInbound): a forged, unsigned
//     or altered one is terminated and recorded as denied;
//  4. store it in the inbox: a full inbox defers it (inboxFullRetry);
//  5. record the receive event (a first delivery only), tell the webhooks
//     (emitReceived: again on a redelivery, under the same event IDs) and
//     ack.
//
// A transient failure at any step naks the message for inboundRetry.
// Once the message is settled for good, its blob (if any) is deleted.
func (b *backend) handleInbound(ctx context.Context, s logical.Storage, mb mailBus, opener payloadOpener, cfg *mailgentConfig, m busMsg) {
	h := m.Headers()
	in := &inboundMsg{m: m, id: h.Get(jetstream.MsgIDHeader), agent: h.Get(bus.HeaderAgent), domain: h.Get(bus.HeaderDomain), blob: h.Get(bus.HeaderBlob),
		metrics: b.metrics}
	in.log = b.logger.With("message_id", in.id, "agent", in.agent)
	defer bus.KeepInProgress(m, inProgressEvery)()
	if reason := checkInboundHeaders(in.id, in.agent, in.domain, in.blob, cfg.Domain); reason != "" {
		in.term(reason)
		return
	}
	st, err := b.loadAgent(ctx, s, in.agent)
	if err != nil {
		in.retry(err)
		return
	}
	if st == nil || !st.active() {
		b.dropInbound(ctx, s, mb, in, st)
		return
	}
	if in.blob != "" {
		select {
		case b.largeInbound <- struct{}{}:
			defer func() { <-b.largeInbound }()
		case <-ctx.Done():
			in.retry(ctx.Err())
			return
		}
	}
	p := b.openInbound(ctx, s, mb, opener, in, st)
	if p == nil {
		return // settled by openInbound
	}
	start := time.Now()
	sum, fresh, err := b.storeMessage(ctx, s, st, &p.Head, p.MessageJSON, p.Raw, cfg)
	if errors.Is(err, errInboxFull) {
		b.metrics.inbound.WithLabelValues("deferred").Inc()
		in.deferFull(err)
		return
	}
	if err != nil {
		in.retry(err)
		return
	}
	b.metrics.store.Observe(time.Since(start).Seconds())
	b.metrics.inbound.WithLabelValues(map[bool]string{true: "stored", false: "duplicate"}[fresh]).Inc()
	if fresh {
		detail := "from " + p.Head.FromAddress + " (" + sum.trust() + "), message " + sum.Key + ", relay key " + p.RelayKeyID
		ev := receiveEvent(st.entry, in.id, outcomeSuccess, detail)
		ev.RemoteAddr = p.Head.RemoteAddr
		if err := b.record(ctx, s, subjectAgent, in.agent, ev); err != nil {
			in.log.Error("audit event for a received message", "error", err)
		}
	}
	if err := b.emitReceived(ctx, s, st, p, sum.Key); err != nil {
		in.retry(err)
		return
	}
	// A plain ack: if it is lost, the message comes back after AckWait and
	// storeMessage finds it stored (the index), so nothing waits for the
	// server's confirmation.
	if err := m.Ack(); err != nil {
		in.log.Warn("ack", "error", err)
	}
	b.deleteBlob(ctx, mb, in.blob)
}

// inProgressEvery is well inside the inbound consumer's AckWait.
const inProgressEvery = bus.InboundAckWait / 3

// dropInbound acks mail for an unknown agent, or for one revoked since the
// relay took it (the relays stop accepting its mail moments after): gone,
// and for a revoked agent on its record.
func (b *backend) dropInbound(ctx context.Context, s logical.Storage, mb mailBus, in *inboundMsg, st *agentState) {
	b.metrics.inbound.WithLabelValues("dropped").Inc()
	if st != nil {
		ev := receiveEvent(st.entry, in.id, outcomeDenied, "agent is revoked; message dropped")
		if err := b.record(ctx, s, subjectAgent, in.agent, ev); err != nil {
			in.retry(err)
			return
		}
	}
	in.log.Warn("inbound message for an unknown or revoked agent dropped")
	_ = in.m.Ack()
	b.deleteBlob(ctx, mb, in.blob)
}

// openInbound fetches a message's sealed payload (inline, or from its
// blob) and opens it. When it returns no payload it has settled the
// message: terminated a missing blob or a poison payload (forged,
// unsigned or altered — not mail a relay accepted: on the agent's record
// as denied), or naked a transient failure.
func (b *backend) openInbound(ctx context.Context, s logical.Storage, mb mailBus, opener payloadOpener, in *inboundMsg, st *agentState) *bus.Payload {
	sealed := in.m.Data()
	if in.blob != "" {
		var err error
		if sealed, err = mb.inboundBlob(ctx, in.blob); errors.Is(err, jetstream.ErrObjectNotFound) {
			in.term("blob " + in.blob + " is missing")
			return nil
		} else if err != nil {
			in.retry(err)
			return nil
		}
	}
	p, err := opener.Open(in.domain, in.agent, in.id, in.m.Headers().Get(bus.HeaderSeal), sealed)
	if errors.Is(err, bus.ErrPoison) {
		ev := receiveEvent(st.entry, in.id, outcomeDenied, "refused: "+err.Error())
		if rerr := b.record(ctx, s, subjectAgent, in.agent, ev); rerr != nil {
			in.retry(rerr)
			return nil
		}
		in.term(err.Error())
		b.deleteBlob(ctx, mb, in.blob)
		return nil
	}
	if err != nil {
		in.retry(err)
		return nil
	}
	return p
}

// inboundIDRe is the shape of bus.MessageID.
var inboundIDRe = regexp.MustCompile(`^[a-z2-7]{32}$`)

// checkInboundHeaders validates every header the plugin acts on before it
// touches storage with them (the agent name becomes a storage key); the
// reason a message is refused, or "".
func checkInboundHeaders(id, agent, domain, blob, ourDomain string) string {
	switch {
	case domain != ourDomain:
		return "foreign or missing Mailgent-Domain header"
	case !inboundIDRe.MatchString(id):
		return "Nats-Msg-Id is not a message ID"
	case validateAgentName(agent) != nil:
		return "Mailgent-Agent header is not an agent name"
	case blob != "" && blob != id:
		return "Mailgent-Blob header does not name the message's blob"
	}
	return ""
}

// deleteBlob removes a settled message's blob; the bucket's TTL removes
// one this misses.
func (b *backend) deleteBlob(ctx context.Context, mb mailBus, blob string) {
	if blob == "" {
		return
	}
	if err := mb.deleteInboundBlob(ctx, blob); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		b.logger.Warn("delete inbound blob; the bucket's TTL will", "blob", blob, "error", err)
	}
}
