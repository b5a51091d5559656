package plugin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// relayActor is the requester recorded for mail the relay delivered.
var relayActor = actor{DisplayName: "mailgent-relay"}

// serveBus is the active node's bus work while connected: publish the
// inbound public key and the address directory for the relays, and consume
// inbound mail into the agents' inboxes. It returns when ctx ends.
func (b *backend) serveBus(ctx context.Context, s logical.Storage, nc *nats.Conn, cfg *mailgentConfig) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	kv, obs, err := bus.EnsureInbound(ctx, js)
	if err != nil {
		return err
	}
	key, err := readInboundKey(ctx, s)
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("no inbound key yet: write config")
	}
	if _, err := kv.Put(ctx, bus.DirectoryPublicKeyKey(cfg.Domain), key.Public); err != nil {
		return fmt.Errorf("publish inbound public key: %w", err)
	}
	signer, err := b.readBusSigningKey(ctx, s)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, bus.DirectorySignerKey(cfg.Domain), signer.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("publish outbound signing key: %w", err)
	}
	if err := b.syncDirectory(ctx, s, kv, cfg.Domain); err != nil {
		return err
	}
	_, outBlobs, err := bus.EnsureOutbound(ctx, js)
	if err != nil {
		return err
	}
	// The relays' consumer too: they bind to it, and change nothing.
	if _, err := js.CreateOrUpdateConsumer(ctx, bus.OutboundStream, bus.RelayConsumerConfig(cfg.Domain)); err != nil {
		return fmt.Errorf("relay consumer: %w", err)
	}
	statusCons, err := js.CreateOrUpdateConsumer(ctx, bus.StatusStream, bus.StatusConsumerConfig(cfg.Domain))
	if err != nil {
		return fmt.Errorf("delivery status consumer: %w", err)
	}
	statusCtx, err := statusCons.Consume(func(m jetstream.Msg) {
		var ds bus.DeliveryStatus
		if err := json.Unmarshal(m.Data(), &ds); err != nil {
			_ = m.TermWithReason("undecodable delivery status")
			return
		}
		if err := b.applyStatus(ctx, s, &ds); err != nil {
			b.logger.Warn("record delivery status; retrying", "id", ds.ID, "error", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("delivery status consumer: %w", err)
	}
	defer statusCtx.Stop()
	b.setOutboundJS(js, outBlobs)
	defer b.setOutboundJS(nil, nil)

	cons, err := js.CreateOrUpdateConsumer(ctx, bus.InboundStream, bus.InboundConsumerConfig(cfg.Domain))
	if err != nil {
		return fmt.Errorf("inbound consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * inboundWorkers))
	if err != nil {
		return fmt.Errorf("inbound consumer: %w", err)
	}
	defer it.Stop()
	go func() {
		// Stop pulling, but hand over what was already pulled: the loop
		// below stores it (see inboundFinishTimeout) instead of leaving it
		// to be delivered again after AckWait.
		<-ctx.Done()
		it.Drain()
	}()

	// The directory follows agent changes; the consumer runs alongside.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.directoryChanged:
				// The registry first: a change on another node left it empty.
				_, err := b.relays(ctx, s)
				if err == nil {
					err = b.syncDirectory(ctx, s, kv, cfg.Domain)
				}
				if err != nil && ctx.Err() == nil {
					b.logger.Error("sync address directory", "error", err)
					// Try again shortly: a revoked agent must stop receiving.
					time.AfterFunc(time.Second, b.signalDirectory)
				}
			}
		}
	}()

	if _, err := b.relays(ctx, s); err != nil {
		return err
	}
	opener, err := bus.NewOpener(key.Private, &b.relayReg)
	if err != nil {
		return err
	}
	b.opener.Store(opener)
	defer b.opener.Store(nil)
	// Messages are stored concurrently: each is several storage writes
	// (gRPC calls into Vault), and only the per-agent counts serialise.
	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range inboundWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				live := b.workers.live.Load()
				if live == nil {
					live = cfg
				}
				// A message being stored when the bus work stops (a config
				// change, step-down, Clean) is finished rather than cut off:
				// cut off, it would wait out AckWait (a minute) before
				// JetStream delivers it again.
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inboundFinishTimeout)
				b.handleInbound(hctx, s, obs, opener, live, m)
				cancel()
			}
		}()
	}
	defer wg.Wait()
	defer close(work)

	b.logger.Info("inbound consumer started", "domain", cfg.Domain, "consumer", bus.ConsumerName(cfg.Domain))
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("inbound consumer: %w", err)
		}
		work <- m
	}
}

// inboundWorkers is how many inbound messages are stored at once.
const inboundWorkers = 8

// inboxFullRetry is when JetStream offers a message again that a full
// inbox deferred; by then older mail has aged past max_wait_timeout.
const inboxFullRetry = 15 * time.Second

// inboundFinishTimeout bounds the storing of one message, and so how long
// stopping the bus work waits for the messages in hand.
const inboundFinishTimeout = 10 * time.Second

// handleInbound stores one message and acks it only after the Vault write
// returned; a transient failure is retried, a poison message terminated.
func (b *backend) handleInbound(ctx context.Context, s logical.Storage, obs jetstream.ObjectStore, opener *bus.Opener, cfg *mailgentConfig, m jetstream.Msg) {
	h := m.Headers()
	id, agent, domain, blob := h.Get(jetstream.MsgIDHeader), h.Get(bus.HeaderAgent), h.Get(bus.HeaderDomain), h.Get(bus.HeaderBlob)
	log := b.logger.With("message_id", id, "agent", agent)
	term := func(reason string) {
		log.Error("inbound message terminated", "reason", reason)
		_ = m.TermWithReason(reason)
	}
	retry := func(err error) {
		log.Warn("inbound message will be retried", "error", err)
		_ = m.NakWithDelay(2 * time.Second)
	}
	if reason := checkInboundHeaders(id, agent, domain, blob, cfg.Domain); reason != "" {
		term(reason)
		return
	}

	st, err := b.loadAgent(ctx, s, agent)
	if err != nil {
		retry(err)
		return
	}
	if st == nil || !st.active() {
		// Mail that raced a revocation, or for a name that never existed:
		// dropped, on the record.
		if st != nil {
			ev := &auditEvent{Operation: opMessageReceive, Outcome: outcomeDenied, Agent: agent, AgentID: st.entry.ID, Org: st.entry.Org,
				DelegationChain: st.entry.chain(), Requester: relayActor, RequestID: id, Detail: "agent is revoked; message dropped"}
			if err := b.record(ctx, s, subjectAgent, agent, ev); err != nil {
				retry(err)
				return
			}
		}
		log.Warn("inbound message for an unknown or revoked agent dropped")
		_ = m.Ack()
		b.deleteBlob(ctx, obs, blob)
		return
	}

	sealedPayload := m.Data()
	if blob != "" {
		if sealedPayload, err = obs.GetBytes(ctx, blob); err != nil {
			if errors.Is(err, jetstream.ErrObjectNotFound) {
				term("blob " + blob + " is missing")
				return
			}
			retry(err)
			return
		}
	}
	p, err := opener.Open(domain, agent, id, h.Get(bus.HeaderSeal), sealedPayload)
	if err != nil {
		if errors.Is(err, bus.ErrPoison) {
			// Forged, unsigned or altered: not mail a relay accepted. On
			// the agent's record, then gone.
			ev := &auditEvent{Operation: opMessageReceive, Outcome: outcomeDenied, Agent: agent, AgentID: st.entry.ID, Org: st.entry.Org,
				DelegationChain: st.entry.chain(), Requester: relayActor, RequestID: id, Detail: "refused: " + err.Error()}
			if rerr := b.record(ctx, s, subjectAgent, agent, ev); rerr != nil {
				retry(rerr)
				return
			}
			term(err.Error())
			b.deleteBlob(ctx, obs, blob)
			return
		}
		retry(err)
		return
	}
	sum, fresh, err := b.storeMessage(ctx, s, st, &p.Head, p.MessageJSON, p.Raw, cfg)
	if errors.Is(err, errInboxFull) {
		log.Warn("inbound message deferred", "reason", err, "retry_in", inboxFullRetry)
		_ = m.NakWithDelay(inboxFullRetry)
		return
	}
	if err != nil {
		retry(err)
		return
	}
	if fresh {
		ev := &auditEvent{Operation: opMessageReceive, Outcome: outcomeSuccess, Agent: agent, AgentID: st.entry.ID, Org: st.entry.Org,
			DelegationChain: st.entry.chain(), Requester: relayActor, RequestID: id, RemoteAddr: p.Head.RemoteAddr,
			Detail: "from " + p.Head.FromAddress + " (" + sum.trust() + "), message " + sum.Key + ", relay key " + p.RelayKeyID}
		if err := b.record(ctx, s, subjectAgent, agent, ev); err != nil {
			log.Error("audit event for a received message", "error", err)
		}
	}
	// A plain ack: if it is lost, the message comes back after AckWait and
	// storeMessage finds it stored (the index), so nothing waits for the
	// server's confirmation.
	if err := m.Ack(); err != nil {
		log.Warn("ack", "error", err)
	}
	b.deleteBlob(ctx, obs, blob)
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

func (b *backend) deleteBlob(ctx context.Context, obs jetstream.ObjectStore, blob string) {
	if blob == "" {
		return
	}
	if err := obs.Delete(ctx, blob); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		b.logger.Warn("delete inbound blob; the bucket's TTL will", "blob", blob, "error", err)
	}
}

// syncDirectory makes the KV directory list exactly the domain's live agents.
func (b *backend) syncDirectory(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string) error {
	names, err := s.List(ctx, agentPrefix)
	if err != nil {
		return err
	}
	live := map[string]string{}
	for _, n := range names {
		st, err := b.loadAgent(ctx, s, n)
		if err != nil {
			return err
		}
		if st != nil && st.active() {
			live[bus.DirectoryAgentKey(domain, n)] = "active"
		}
	}
	if err := syncKeys(ctx, kv, bus.DirectoryAgentFilter(domain), live); err != nil {
		return err
	}
	return b.syncRelayDirectory(ctx, s, kv, domain)
}

// syncKeys makes the directory's keys matching filter exactly want (key →
// value): removals first, so a revoked agent or relay stops at once.
func syncKeys(ctx context.Context, kv jetstream.KeyValue, filter string, want map[string]string) error {
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return fmt.Errorf("list directory: %w", err)
	}
	present := map[string]bool{}
	for k := range lister.Keys() {
		present[k] = true
	}
	for k := range present {
		if _, ok := want[k]; !ok {
			if err := kv.Delete(ctx, k); err != nil {
				return fmt.Errorf("directory delete %s: %w", k, err)
			}
		}
	}
	for k, v := range want {
		if !present[k] {
			if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
				return fmt.Errorf("directory put %s: %w", k, err)
			}
		}
	}
	return nil
}

// syncRelayDirectory publishes the registered relays' key IDs.
func (b *backend) syncRelayDirectory(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string) error {
	set, err := b.relays(ctx, s)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for id, e := range set.byID {
		want[bus.DirectoryRelayKey(domain, id)] = e.Name
	}
	return syncKeys(ctx, kv, bus.DirectoryRelayFilter(domain), want)
}

// signalDirectory asks the bus work to resync the directory.
func (b *backend) signalDirectory() {
	select {
	case b.directoryChanged <- struct{}{}:
	default:
	}
}
