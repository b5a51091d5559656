package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/webhook"
)

// Webhooks: what happens to an agent (mail stored, mail sent or failed, a
// login reported) is pushed to the URLs its webhooks and its org's name.
// The plugin makes one event per matching webhook, with a stable ID
// (webhook.EventID), and publishes it on bus.WebhookStream, signed and
// sealed to the relays (bus.SealWebhook); a relay POSTs it, signed per the
// Standard Webhooks spec, and reports each attempt back on
// bus.WebhookStatusStream, which the plugin records (the deliveries
// listing). An event made while the bus is not connected waits in an
// outbox in storage. Storage:
//
//	webhooks/agent/<agent>/<name>   webhookEntry; its secret sealed with the agent's KEK
//	webhooks/org/<org>/<name>       webhookEntry; its secret sealed with webhook_kek
//	webhook_kek                     the key of org webhooks' secrets (seal-wrapped)
//	webhookdlv/<kind>/<owner>/<name>/<reverse time>-<event id>-<attempt>-<outcome>
//	                                one delivery attempt (bus.WebhookAttempt)
//	webhook_outbox/<reverse time>-<random>   an event waiting for the bus (no secret)
const (
	webhookPrefix         = "webhooks/"
	webhookDeliveryPrefix = "webhookdlv/"
	webhookOutboxPrefix   = "webhook_outbox/"
	webhookKEKStorageKey  = "webhook_kek"

	// maxWebhooksPerOwner bounds the webhooks of one agent or org.
	maxWebhooksPerOwner = 20
	// webhookDeliveryRetention is how long delivery attempts are listed.
	webhookDeliveryRetention = 7 * 24 * time.Hour
	// maxEventCodes and maxEventLinks bound what a message.received event
	// carries of the message.
	maxEventCodes = 10
	maxEventLinks = 20
	// outboxEvery is how often the bus work sends what waits in the outbox.
	outboxEvery = 5 * time.Second
)

// webhookEntry is one webhook of an agent or an org.
type webhookEntry struct {
	// ID is this incarnation's random ID: event IDs derive from it.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind (agent or org) and Owner say whose it is.
	Kind  string `json:"kind"`
	Owner string `json:"owner"`
	// URL is where events are POSTed; Events the types it receives.
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Description is free text; Enabled false stops new events.
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	// Secret is the signing secret (whsec_…), sealed (webhookSecretAD).
	Secret *sealedBox `json:"secret"`
	// CreatedAt, CreatedBy, UpdatedAt and SecretRotatedAt record changes.
	CreatedAt       time.Time `json:"created_at"`
	CreatedBy       actor     `json:"created_by"`
	UpdatedAt       time.Time `json:"updated_at"`
	SecretRotatedAt time.Time `json:"secret_rotated_at"`
}

// hookOwner is an agent or an org, as the owner of webhooks.
type hookOwner struct{ kind, name string }

func (o hookOwner) prefix() string { return webhookPrefix + o.kind + "/" + o.name + "/" }

// ref names one of its webhooks on the bus: <kind>/<owner>/<name>.
func (o hookOwner) ref(name string) string { return o.kind + "/" + o.name + "/" + name }

func (o hookOwner) deliveryPrefix(name string) string {
	return webhookDeliveryPrefix + o.ref(name) + "/"
}

// cacheKey is the owner's key in the webhook cache.
func (o hookOwner) cacheKey() string { return o.kind + "/" + o.name }

// webhookSecretAD binds a sealed secret to its mount, owner, webhook and
// incarnation.
func webhookSecretAD(mountID string, o hookOwner, name, id string) []byte {
	return bindAD("mailgent-webhook-v1", mountID, o.kind, o.name, name, id)
}

// webhookCache holds each owner's webhooks (secrets sealed), dropped when
// this node writes them and in Invalidate when another node did.
type webhookCache = lockedMap[*[]*webhookEntry]

// loadHooks returns an owner's webhooks, sorted by name.
func (b *backend) loadHooks(ctx context.Context, s logical.Storage, o hookOwner) ([]*webhookEntry, error) {
	if hooks := b.hooks.get(o.cacheKey()); hooks != nil {
		return *hooks, nil
	}
	epoch := b.hooks.currentEpoch()
	names, err := s.List(ctx, o.prefix())
	if err != nil {
		return nil, err
	}
	hooks := []*webhookEntry{}
	for _, n := range names {
		e, err := getJSON[webhookEntry](ctx, s, o.prefix()+n)
		if err != nil {
			return nil, err
		}
		if e != nil {
			hooks = append(hooks, e)
		}
	}
	slices.SortFunc(hooks, func(a, b *webhookEntry) int { return strings.Compare(a.Name, b.Name) })
	b.hooks.putAt(o.cacheKey(), &hooks, epoch)
	return hooks, nil
}

// findHook returns an owner's webhook by name, or nil.
func (b *backend) findHook(ctx context.Context, s logical.Storage, o hookOwner, name string) (*webhookEntry, error) {
	hooks, err := b.loadHooks(ctx, s, o)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if h.Name == name {
			return h, nil
		}
	}
	return nil, nil
}

// putHook stores a webhook and drops its owner's cache.
func (b *backend) putHook(ctx context.Context, s logical.Storage, h *webhookEntry) error {
	o := hookOwner{h.Kind, h.Owner}
	defer b.hooks.drop(o.cacheKey())
	return putJSON(ctx, s, o.prefix()+h.Name, h)
}

// deleteHooks removes an owner's webhooks and their delivery records
// (an org deleted, a revoked agent swept).
func (b *backend) deleteHooks(ctx context.Context, s logical.Storage, o hookOwner) error {
	defer b.hooks.drop(o.cacheKey())
	if _, err := deleteTree(ctx, s, o.prefix()); err != nil {
		return err
	}
	_, err := deleteTree(ctx, s, webhookDeliveryPrefix+o.kind+"/"+o.name+"/")
	return err
}

// webhookKEK returns the key org webhooks' secrets are sealed with,
// making it when create is set and there is none yet.
func (b *backend) webhookKEK(ctx context.Context, s logical.Storage, create bool) (*agentKEK, error) {
	k, err := getJSON[agentKEK](ctx, s, webhookKEKStorageKey)
	if err != nil || k != nil || !create {
		return k, err
	}
	b.configLock.Lock() // two first org webhooks must not make two keys
	defer b.configLock.Unlock()
	if k, err = getJSON[agentKEK](ctx, s, webhookKEKStorageKey); err != nil || k != nil {
		return k, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	k = &agentKEK{ID: id, Key: key, CreatedAt: b.now().UTC()}
	return k, putJSON(ctx, s, webhookKEKStorageKey, k)
}

// hookKEK is the key of h's secret: its agent's KEK (st, the agent's
// state, for an agent's webhook) or the org webhooks' key.
func (b *backend) hookKEK(ctx context.Context, s logical.Storage, h *webhookEntry, st *agentState, create bool) (*agentKEK, error) {
	if h.Kind == subjectAgent {
		if st == nil || st.kek == nil || st.entry.Name != h.Owner {
			return nil, fmt.Errorf("webhook %s: the agent's key is not at hand", h.Name)
		}
		return st.kek, nil
	}
	k, err := b.webhookKEK(ctx, s, create)
	if err == nil && k == nil {
		err = errors.New("the org webhooks' key is missing")
	}
	return k, err
}

// sealSecret and openSecret keep a webhook's secret sealed in its entry.
func (b *backend) sealSecret(kek *agentKEK, h *webhookEntry, secret string) error {
	box, err := seal(kek, webhookSecretAD(b.mountID, hookOwner{h.Kind, h.Owner}, h.Name, h.ID), []byte(secret))
	h.Secret = box
	return err
}

func (b *backend) openSecret(kek *agentKEK, h *webhookEntry) (string, error) {
	if h.Secret == nil {
		return "", ErrDoesNotOpen
	}
	plain, err := open(kek, webhookSecretAD(b.mountID, hookOwner{h.Kind, h.Owner}, h.Name, h.ID), h.Secret)
	return string(plain), err
}

// hookEvent is something that happened to an agent that webhooks may be
// told of. Source says what, stably across retries (e.g.
// "message.received/<message ID>"): with the webhook's ID it makes the
// event's ID.
type hookEvent struct {
	Type   string         `json:"type"`
	Agent  string         `json:"agent"`
	Source string         `json:"source"`
	At     time.Time      `json:"at"`
	Data   map[string]any `json:"data"`
}

// hooksFor are the enabled webhooks of an agent and of its org that
// receive events of type typ.
func (b *backend) hooksFor(ctx context.Context, s logical.Storage, a *agentEntry, typ string) ([]*webhookEntry, error) {
	var out []*webhookEntry
	for _, o := range []hookOwner{{subjectAgent, a.Name}, {subjectOrg, a.Org}} {
		if o.name == "" {
			continue
		}
		hooks, err := b.loadHooks(ctx, s, o)
		if err != nil {
			return nil, err
		}
		for _, h := range hooks {
			if h.Enabled && slices.Contains(h.Events, typ) {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// emit tells the webhooks of st's agent and org that subscribe to typ
// what happened. The steps:
//
//  1. find the webhooks: none, and nothing more is done (data is not
//     even built);
//  2. build the event;
//  3. publish one event per webhook if the bus is connected
//     (publishToHooks); otherwise, or if that fails, keep the event in
//     the outbox, which the bus work sends later (drainOutbox).
//
// An error means the event is in neither place: the caller retries.
func (b *backend) emit(ctx context.Context, s logical.Storage, st *agentState, typ, source string, at time.Time, data func() map[string]any) error {
	hooks, err := b.hooksFor(ctx, s, st.entry, typ)
	if err != nil || len(hooks) == 0 {
		return err
	}
	ev := &hookEvent{Type: typ, Agent: st.entry.Name, Source: source, At: at.UTC(), Data: data()}
	if mb := b.connectedBus(); mb != nil {
		err := b.publishToHooks(ctx, s, mb, st, ev, hooks)
		if err == nil {
			return nil
		}
		b.logger.Warn("webhook event not published; kept in the outbox", "type", typ, "agent", ev.Agent, "error", err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	return putJSON(ctx, s, webhookOutboxPrefix+reverseTime(b.now())+"-"+hex.EncodeToString(rnd[:]), ev)
}

// publishToHooks publishes ev once per webhook, sealed to the registered
// relays with the webhook's secret and the operator's target policy. What
// can never be delivered is not retried but recorded (logged, and as a
// "dropped" attempt where the webhook can show it): no relay registered,
// a secret that does not open, a full webhook stream.
func (b *backend) publishToHooks(ctx context.Context, s logical.Storage, mb mailBus, st *agentState, ev *hookEvent, hooks []*webhookEntry) error {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg == nil {
		return fmt.Errorf("webhook events need the config: %v", err)
	}
	set, err := b.relays(ctx, s)
	if err != nil {
		return err
	}
	if len(set.sorted) == 0 {
		b.logger.Error("webhook event dropped: no relay is registered (config/relays) to deliver it", "type", ev.Type, "agent", ev.Agent)
		b.metrics.webhooks.WithLabelValues(bus.AttemptDropped).Add(float64(len(hooks)))
		return nil
	}
	signer, err := b.readBusSigningKey(ctx, s)
	if err != nil {
		return err
	}
	body, err := json.Marshal(webhook.Payload{Type: ev.Type, Timestamp: ev.At, Data: ev.Data})
	if err != nil {
		return err
	}
	for _, h := range hooks {
		o := hookOwner{h.Kind, h.Owner}
		e := &bus.WebhookEvent{ID: webhook.EventID(h.ID, ev.Source), Type: ev.Type, Agent: ev.Agent, Webhook: o.ref(h.Name), WebhookID: h.ID,
			URL: h.URL, Target: cfg.webhookPolicy(), Body: body, CreatedAt: b.now().UTC()}
		kek, err := b.hookKEK(ctx, s, h, st, false)
		if err == nil {
			e.Secret, err = b.openSecret(kek, h)
		}
		if err == nil {
			err = mb.queueWebhook(ctx, cfg.Domain, e, signer, set.publics())
		}
		switch {
		case err == nil:
			b.metrics.webhooks.WithLabelValues("queued").Inc()
		case errors.Is(err, bus.ErrBusFull), errors.Is(err, ErrDoesNotOpen):
			b.dropEvent(ctx, s, e, err)
		default:
			return err
		}
	}
	return nil
}

// dropEvent records an event that cannot be queued as a dropped attempt.
func (b *backend) dropEvent(ctx context.Context, s logical.Storage, e *bus.WebhookEvent, cause error) {
	b.logger.Error("webhook event dropped", "webhook", e.Webhook, "event_id", e.ID, "type", e.Type, "error", cause)
	b.metrics.webhooks.WithLabelValues(bus.AttemptDropped).Inc()
	a := &bus.WebhookAttempt{EventID: e.ID, Type: e.Type, Agent: e.Agent, Webhook: e.Webhook, WebhookID: e.WebhookID,
		Attempt: 1, Outcome: bus.AttemptDropped, Error: "not queued: " + cause.Error(), At: b.now().UTC(), Relay: "plugin"}
	if err := b.applyWebhookAttempt(ctx, s, a); err != nil {
		b.logger.Error("record a dropped webhook event", "webhook", e.Webhook, "error", err)
	}
}

// runOutbox sends what waits in the outbox now and every outboxEvery,
// until ctx ends.
func (b *backend) runOutbox(ctx context.Context, s logical.Storage) {
	t := time.NewTicker(outboxEvery)
	defer t.Stop()
	for {
		if err := b.drainOutbox(ctx, s); err != nil && ctx.Err() == nil {
			b.logger.Warn("webhook outbox: retrying later", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drainOutbox publishes the events in the outbox, oldest first, to the
// webhooks that match them now, and deletes each once published. An agent
// revoked meanwhile has its events deleted unsent.
func (b *backend) drainOutbox(ctx context.Context, s logical.Storage) error {
	mb := b.connectedBus()
	if mb == nil {
		return nil
	}
	keys, err := s.List(ctx, webhookOutboxPrefix)
	if err != nil {
		return err
	}
	slices.Reverse(keys) // reverse time: oldest last in the listing
	for _, k := range keys {
		ev, err := getJSON[hookEvent](ctx, s, webhookOutboxPrefix+k)
		if err != nil || ev == nil {
			return err
		}
		st, err := b.loadAgent(ctx, s, ev.Agent)
		if err != nil {
			return err
		}
		if st != nil && st.active() {
			hooks, err := b.hooksFor(ctx, s, st.entry, ev.Type)
			if err == nil {
				err = b.publishToHooks(ctx, s, mb, st, ev, hooks)
			}
			if err != nil {
				return err
			}
		}
		if err := s.Delete(ctx, webhookOutboxPrefix+k); err != nil {
			return err
		}
	}
	return nil
}
