package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// The inbound delivery: what becomes of a message once the SMTP session
// (session.go) has its envelope. The session knows the protocol; a
// delivery knows the address directory, the parser, sender
// authentication, sealing and the bus. Per SMTP transaction:
//
//	d := target.startDelivery(envelope, logger)  at MAIL FROM
//	d.addRcpt(agent)   at each RCPT TO in the served domain: is the agent live?
//	d.body(raw)        at DATA: parse and authenticate the message
//	d.commit()         seal a copy per agent and publish it; the session
//	                   answers 250 only once commit returned nil
//
// There is no abort: nothing leaves the relay before commit, so a
// transaction reset or cut short only drops its delivery. A commit that
// fails part way may have published some copies; the sender's retry
// carries the same bytes, so the same message IDs, and JetStream's
// deduplication keeps one of each.
//
// The errors are replies.go's, the bus's, or temporary(…); the session
// answers them with reply.

// deliveryTarget starts one delivery per SMTP transaction. *Server is the
// relay's.
type deliveryTarget interface {
	startDelivery(env mailmsg.Envelope, logger *slog.Logger) delivery
}

// delivery is one message on its way to the bus; see above for the order
// of calls.
type delivery interface {
	addRcpt(agent string) error
	body(raw []byte) error
	commit() error
}

// inboundBus is where sealed copies go: JetStream (busHandles) in the
// relay, a fake in tests.
type inboundBus interface {
	// ready tells whether the relay is bound to the plugin's stream.
	ready() bool
	// publish hands one sealed copy to the stream and returns once
	// JetStream has it durably; dup tells a copy it had already.
	publish(ctx context.Context, agent, id string, sealed []byte) (dup bool, err error)
}

func (srv *Server) startDelivery(env mailmsg.Envelope, logger *slog.Logger) delivery {
	return &busDelivery{srv: srv, env: env, logger: logger}
}

// busDelivery is the relay's delivery: the address directory decides the
// recipients, the plugin's public key seals the copies, the inbound bus
// takes them.
type busDelivery struct {
	srv    *Server
	env    mailmsg.Envelope
	logger *slog.Logger
	agents []string // accepted recipients, by agent name, each once
	// Set by body: the message as sent and parsed, and the plugin's
	// public key the copies are sealed to.
	raw []byte
	msg *mailmsg.Message
	pub []byte
}

// addRcpt accepts a live agent. It defers (4xx) until the directory has
// been read and while the plugin does not list this relay as registered
// (the plugin would refuse what it seals); it refuses an unknown agent.
func (d *busDelivery) addRcpt(agent string) error {
	dir := d.srv.dir
	live, ready := dir.lookup(agent)
	switch {
	case !ready:
		d.logger.Warn("recipient deferred: directory not synced", "agent", agent)
		return errDirectoryNotReady
	case !dir.registered(d.srv.keyID):
		d.logger.Error("recipient deferred: this relay's key is not registered with the plugin (vault write <mount>/config/relays/<name> …)", "key_id", d.srv.keyID)
		return errNotRegistered
	case !live:
		d.logger.Info("unknown recipient", "agent", agent)
		return errUnknownAgent
	}
	if !slices.Contains(d.agents, agent) { // the same agent twice: one copy
		d.agents = append(d.agents, agent)
	}
	return nil
}

// body parses the message and authenticates its sender. A message that
// must be deferred anyway (no bus, no public key) costs no parsing or DNS
// work.
func (d *busDelivery) body(raw []byte) error {
	if len(d.agents) == 0 {
		return errNoRecipients
	}
	pub := d.srv.dir.publicKey()
	if pub == nil || !d.srv.inboundBus.ready() {
		d.logger.Warn("message deferred: bus or public key not ready")
		return errBusNotReady
	}
	start := time.Now()
	msg, err := mailparse.Parse(raw, d.srv.limits)
	d.srv.metrics.stage.WithLabelValues("parse").Observe(time.Since(start).Seconds())
	if err != nil {
		var le *mailparse.LimitError
		if errors.As(err, &le) {
			d.logger.Info("message refused by a parser limit", "error", err)
			return err
		}
		d.logger.Info("unparseable message refused", "error", err)
		return fmt.Errorf("%w: %v", errUnparseable, err)
	}
	msg.ReceivedAt = time.Now().UTC()
	msg.Envelope = d.env
	msg.SenderDomain = domain.OfAddress(msg.FromAddress)
	start = time.Now()
	msg.Auth = d.srv.verifySender(raw, d.env.MailFrom, d.env.Helo, d.env.RemoteAddr, msg.SenderDomain)
	d.srv.metrics.stage.WithLabelValues("sender_auth").Observe(time.Since(start).Seconds())
	msg.Trust, msg.TrustReason = d.srv.verdict(msg)
	d.srv.metrics.trust.WithLabelValues(msg.Trust).Inc()
	d.raw, d.msg, d.pub = raw, msg, pub
	return nil
}

// commit seals and publishes one copy per agent, one at a time (a copy
// is as large as the message).
func (d *busDelivery) commit() error {
	ids := make([]string, 0, len(d.agents))
	for _, agent := range d.agents {
		id, err := d.publish(agent)
		if err != nil {
			d.logger.Warn("message not handed to the bus; the sender will retry", "agent", agent, "error", err)
			return temporary(err)
		}
		ids = append(ids, id)
	}
	d.logger.Info("message accepted", "from", d.env.MailFrom, "agents", d.agents, "size", len(d.raw), "ids", ids)
	return nil
}

// publish seals agent's copy and hands it to the bus. The copy has its own
// ID and an envelope naming only that agent: no agent learns who else (Bcc
// included) received the message.
func (d *busDelivery) publish(agent string) (id string, err error) {
	dom := d.srv.cfg.Domain
	m := *d.msg
	m.ID = bus.MessageID(dom, agent, d.raw)
	m.Envelope.RcptTo = []string{agent + "@" + dom}
	p, err := bus.NewPayload(&m, d.raw)
	if err != nil {
		return "", fmt.Errorf("marshal message: %w", err)
	}
	sealed, err := d.srv.sealer.Seal(d.pub, dom, agent, p)
	if err != nil {
		return "", fmt.Errorf("seal message: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.srv.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	dup, err := d.srv.inboundBus.publish(ctx, agent, m.ID, sealed)
	d.srv.metrics.publish.Observe(time.Since(start).Seconds())
	if err != nil {
		return "", err
	}
	if dup {
		d.logger.Info("duplicate message (a retry); stored once", "agent", agent, "id", m.ID)
	}
	return m.ID, nil
}
