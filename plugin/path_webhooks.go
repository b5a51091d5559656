package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/webhook"
)

// agents/:agent/webhooks/:name and orgs/:org/webhooks/:name: where an
// agent's events are pushed (webhooks.go). An org's webhooks receive the
// events of every agent of the org. The signing secret is shown once, when
// the webhook is made and when it is rotated (rotate-secret); reads never
// show it.

// Bounds of a webhook's fields, and of its deliveries listing.
const (
	maxHookDescription    = 1024
	defaultDeliveriesPage = 50
	maxDeliveriesPage     = 500
	// hookLookupTimeout bounds resolving a webhook's host when it is written.
	hookLookupTimeout = 3 * time.Second
)

func (b *backend) pathWebhooks() []*framework.Path {
	return append(b.hookPaths(subjectAgent), b.hookPaths(subjectOrg)...)
}

// hookPaths are the webhook paths of an agent or of an org.
func (b *backend) hookPaths(kind string) []*framework.Path {
	base, owner, ownerField, display := "agents/"+namePattern("agent"), "agent", agentField(), "agent-webhook"
	if kind == subjectOrg {
		base, owner, ownerField, display = "orgs/"+namePattern("org"), "org", requiredString("Org name."), "org-webhook"
	}
	nameField := requiredString("Webhook name (lower-case letters, digits, '.', '_', '-').")
	return []*framework.Path{
		{
			Pattern:      base + "/webhooks/?$",
			DisplayAttrs: pathDisplay(display + "s"),
			Fields:       map[string]*framework.FieldSchema{owner: ownerField},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, "", readNoHookInput, b.pathHookList)},
			},
			HelpSynopsis: fmt.Sprintf("The %s's webhooks.", owner),
		},
		{
			Pattern:        base + "/webhooks/" + namePattern("name") + "$",
			DisplayAttrs:   pathDisplay(display),
			Fields:         hookFields(owner, ownerField, nameField),
			ExistenceCheck: b.hookExists(kind),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, opWebhookUpdate, readHookWrite, b.pathHookWrite)},
				logical.UpdateOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, opWebhookUpdate, readHookWrite, b.pathHookWrite)},
				logical.ReadOperation:   &framework.PathOperation{Callback: withHookOwner(b, kind, "", readHookName, b.pathHookRead)},
				logical.DeleteOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, opWebhookDelete, readHookName, b.pathHookDelete)},
			},
			HelpSynopsis:    fmt.Sprintf("A webhook of the %s: where its events are POSTed, signed per the Standard Webhooks spec.", owner),
			HelpDescription: webhookHelp,
		},
		{
			Pattern:      base + "/webhooks/" + namePattern("name") + "/rotate-secret$",
			DisplayAttrs: pathDisplay(display + "-secret"),
			Fields:       map[string]*framework.FieldSchema{owner: ownerField, "name": nameField},
			Operations: writeOperations(withHookOwner(b, kind, opWebhookRotate, readHookName, b.pathHookRotate),
				opVerb("rotate")),
			ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return true, nil },
			HelpSynopsis:   "Replace the webhook's signing secret; the new one is shown in this response only.",
		},
		{
			Pattern:      base + "/webhooks/" + namePattern("name") + "/deliveries/?$",
			DisplayAttrs: pathDisplay(display + "-deliveries"),
			Fields: map[string]*framework.FieldSchema{owner: ownerField, "name": nameField,
				"limit": limitField("Attempts", maxDeliveriesPage, defaultDeliveriesPage), "after": afterField()},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, "", readDeliveries, b.pathHookDeliveries)},
				logical.ListOperation: &framework.PathOperation{Callback: withHookOwner(b, kind, "", readDeliveries, b.pathHookDeliveries)},
			},
			HelpSynopsis: "The webhook's recent delivery attempts, newest first: event, attempt, status code or error, next retry.",
		},
	}
}

func hookFields(owner string, ownerField, nameField *framework.FieldSchema) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		owner:  ownerField,
		"name": nameField,
		"url": {
			Type:        framework.TypeString,
			Description: "Where events are POSTed: https (http only to a host in the config's webhook_allowed_hosts); a non-public address only where the operator allows it. Required on create.",
		},
		"events": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Event types to receive: " + strings.Join(webhook.EventTypes(), ", ") + ". Required on create.",
		},
		"description": {
			Type:        framework.TypeString,
			Description: fmt.Sprintf("Free text, at most %d bytes.", maxHookDescription),
		},
		"enabled": {
			Type:        framework.TypeBool,
			Description: "false: no new events for this webhook (default true).",
		},
	}
}

// hookScope is the agent or org a webhook request is about.
type hookScope struct {
	owner hookOwner
	agent *agentState // the agent's state, for an agent's webhooks
}

type hookHandler[In any] func(ctx context.Context, req *logical.Request, sc *hookScope, in In) (*logical.Response, error)

// withHookOwner is the handler of a webhook path: the input read first (a
// 400 naming the field), then the owner — an agent through withAgent
// (404, or 410 once revoked, recorded as denied for op), an org that must
// exist (404) — then handle.
func withHookOwner[In any](b *backend, kind, op string, read inputReader[In], handle hookHandler[In]) framework.OperationFunc {
	if kind == subjectAgent {
		return withAgent(b, op, read, func(ctx context.Context, req *logical.Request, st *agentState, in In) (*logical.Response, error) {
			return handle(ctx, req, &hookScope{owner: hookOwner{subjectAgent, st.entry.Name}, agent: st}, in)
		})
	}
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		in, resp := read(d)
		if resp != nil {
			return resp, nil
		}
		name := d.Get("org").(string)
		if err := validateOrgName(name); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		org, err := getJSON[orgEntry](ctx, req.Storage, orgPrefix+name)
		if err != nil {
			return nil, err
		}
		if org == nil {
			return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("org %q does not exist", name))
		}
		return handle(ctx, req, &hookScope{owner: hookOwner{subjectOrg, name}}, in)
	}
}

// hookExists tells a webhook write whether it creates or updates.
func (b *backend) hookExists(kind string) framework.ExistenceFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
		owner, name := d.Get(map[string]string{subjectAgent: "agent", subjectOrg: "org"}[kind]).(string), d.Get("name").(string)
		if validateName("name", name, agentNameRe, 64) != nil || validateName("owner", owner, agentNameRe, 64) != nil {
			return false, nil // the handler answers the 400
		}
		h, err := b.findHook(ctx, req.Storage, hookOwner{kind, owner}, name)
		return h != nil, err
	}
}

// hookInput is a webhook write: the fields given (nil: unchanged).
type hookInput struct {
	name        string
	url         *string
	events      []string
	description *string
	enabled     *bool
}

func readNoHookInput(d *framework.FieldData) (struct{}, *logical.Response) {
	return struct{}{}, rejectUnknownFields(d)
}

func readHookName(d *framework.FieldData) (string, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return "", resp
	}
	name := d.Get("name").(string)
	if err := validateName("name", name, agentNameRe, 64); err != nil {
		return "", logical.ErrorResponse("%s (lower-case letters, digits, '.', '_', '-')", err)
	}
	return name, nil
}

// readHookWrite reads every field of a write and checks its form; the
// URL's target is checked against the operator's policy in the handler.
func readHookWrite(d *framework.FieldData) (hookInput, *logical.Response) {
	name, resp := readHookName(d)
	in := hookInput{name: name}
	if resp != nil {
		return in, resp
	}
	if v, ok := d.GetOk("url"); ok {
		u := strings.TrimSpace(v.(string))
		in.url = &u
	}
	if v, ok, err := d.GetOkErr("events"); err != nil {
		return in, logical.ErrorResponse("events: %v", err)
	} else if ok {
		for _, e := range v.([]string) {
			e = strings.TrimSpace(e)
			if !webhook.ValidEventType(e) {
				return in, logical.ErrorResponse("events: %q is not one of %s", e, strings.Join(webhook.EventTypes(), ", "))
			}
			if !slices.Contains(in.events, e) {
				in.events = append(in.events, e)
			}
		}
		if len(in.events) == 0 {
			return in, logical.ErrorResponse("events: name at least one of %s", strings.Join(webhook.EventTypes(), ", "))
		}
	}
	if v, ok := d.GetOk("description"); ok {
		desc := v.(string)
		if err := checkText("description", desc, maxHookDescription); err != nil {
			return in, logical.ErrorResponse(err.Error())
		}
		in.description = &desc
	}
	if v, ok, err := d.GetOkErr("enabled"); err != nil {
		return in, logical.ErrorResponse("enabled: %v", err)
	} else if ok {
		on := v.(bool)
		in.enabled = &on
	}
	return in, nil
}

// hookLock serialises the read-modify-write of one webhook.
func (b *backend) hookLock(o hookOwner, name string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, webhookPrefix+o.ref(name))
}

// pathHookWrite creates or updates a webhook. The steps:
//
//  1. under the webhook's lock, read it: none, and this creates it — url
//     and events are required, and the owner may have at most
//     maxWebhooksPerOwner;
//  2. apply the fields given; check the URL against the operator's
//     policy, resolving its host (checkHookURL);
//  3. a new webhook gets an ID and a secret, sealed with its owner's key;
//  4. store it and record the change;
//  5. answer: the webhook, and, made now, its secret (shown this once).
func (b *backend) pathHookWrite(ctx context.Context, req *logical.Request, sc *hookScope, in hookInput) (*logical.Response, error) {
	lock := b.hookLock(sc.owner, in.name)
	lock.Lock()
	defer lock.Unlock()
	old, err := b.findHook(ctx, req.Storage, sc.owner, in.name)
	if err != nil {
		return nil, err
	}
	h, err := b.newOrChangedHook(ctx, req, sc, old, in)
	if err != nil {
		return respond(err)
	}
	warning, err := b.checkHookURL(ctx, req.Storage, h.URL)
	if err != nil {
		return respond(err)
	}
	secret := ""
	if old == nil {
		if secret, err = b.giveSecret(ctx, req.Storage, sc, h); err != nil {
			return nil, err
		}
	}
	if err := b.putHook(ctx, req.Storage, h); err != nil {
		return nil, err
	}
	op := map[bool]string{true: opWebhookCreate, false: opWebhookUpdate}[old == nil]
	if err := b.recordHookChange(ctx, req, sc, h, op); err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: hookData(h)}
	if secret != "" {
		resp.Data["secret"] = secret
	}
	if warning != "" {
		resp.AddWarning(warning)
	}
	return resp, nil
}

// newOrChangedHook is the webhook as the write makes it: a copy of old
// with the fields given, or a new one.
func (b *backend) newOrChangedHook(ctx context.Context, req *logical.Request, sc *hookScope, old *webhookEntry, in hookInput) (*webhookEntry, error) {
	now := b.now().UTC()
	var h webhookEntry
	if old != nil {
		h = *old
		h.Events = slices.Clone(old.Events)
	} else {
		switch {
		case in.url == nil || *in.url == "":
			return nil, errBadRequest("url: is required")
		case in.events == nil:
			return nil, errBadRequest("events: is required: name at least one of %s", strings.Join(webhook.EventTypes(), ", "))
		}
		hooks, err := b.loadHooks(ctx, req.Storage, sc.owner)
		if err != nil {
			return nil, err
		}
		if len(hooks) >= maxWebhooksPerOwner {
			return nil, errBadRequest("name: the %s has %d webhooks already, at most %d allowed", sc.owner.kind, len(hooks), maxWebhooksPerOwner)
		}
		h = webhookEntry{Name: in.name, Kind: sc.owner.kind, Owner: sc.owner.name, Enabled: true, CreatedAt: now, CreatedBy: b.requestActor(req)}
	}
	if in.url != nil {
		h.URL = *in.url
	}
	if in.events != nil {
		h.Events = in.events
	}
	if in.description != nil {
		h.Description = *in.description
	}
	if in.enabled != nil {
		h.Enabled = *in.enabled
	}
	h.UpdatedAt = now
	return &h, nil
}

// checkHookURL checks a URL against the operator's policy: its form, and
// every address its host resolves to now. A host that does not resolve
// now is accepted with a warning (it is checked at every delivery).
func (b *backend) checkHookURL(ctx context.Context, s logical.Storage, raw string) (warning string, err error) {
	cfg, err := b.config(ctx, s)
	if err != nil {
		return "", err
	}
	p := webhook.Policy{}
	if cfg != nil {
		p = cfg.webhookPolicy()
	}
	u, err := p.CheckURL(raw)
	if err == nil {
		lctx, cancel := context.WithTimeout(ctx, hookLookupTimeout)
		_, err = p.CheckResolved(lctx, strings.ToLower(u.Hostname()), b.lookupIP)
		cancel()
		if err != nil && !errors.Is(err, webhook.ErrRefused) {
			return fmt.Sprintf("url: %s does not resolve now (%v); it is checked again at every delivery", u.Hostname(), err), nil
		}
	}
	if errors.Is(err, webhook.ErrRefused) {
		return "", errBadRequest("url: %v (the operator may allow it: config webhook_allow_private, webhook_allowed_hosts)", err)
	}
	if err != nil {
		return "", errBadRequest("url: %v", err)
	}
	return "", nil
}

// giveSecret gives a webhook a new incarnation ID and secret, sealed with
// its owner's key, and returns the secret.
func (b *backend) giveSecret(ctx context.Context, s logical.Storage, sc *hookScope, h *webhookEntry) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return "", err
	}
	kek, err := b.hookKEK(ctx, s, h, sc.agent, true)
	if err != nil {
		return "", err
	}
	h.ID, h.SecretRotatedAt = id, b.now().UTC()
	return secret, b.sealSecret(kek, h, secret)
}

// recordHookChange puts a change on the owner's audit trail: the
// webhook's name and its URL's host, never the secret.
func (b *backend) recordHookChange(ctx context.Context, req *logical.Request, sc *hookScope, h *webhookEntry, op string) error {
	var ev *auditEvent
	if sc.agent != nil {
		ev = b.agentEvent(req, sc.agent.entry, op, outcomeSuccess)
	} else {
		ev = b.orgEvent(req, sc.owner.name, op)
	}
	ev.Detail = "webhook " + h.Name
	if u, err := url.Parse(h.URL); err == nil {
		ev.Detail += " → " + u.Scheme + "://" + u.Host
	}
	return b.record(ctx, req.Storage, sc.owner.kind, sc.owner.name, ev)
}

// hookData is a webhook as a response shows it: everything but the secret.
func hookData(h *webhookEntry) map[string]interface{} {
	return map[string]interface{}{
		"webhook": h.Name, h.Kind: h.Owner, "url": h.URL, "events": nonNil(h.Events), "description": h.Description,
		"enabled": h.Enabled, "created_at": h.CreatedAt.Format(time.RFC3339Nano), "created_by": h.CreatedBy.DisplayName,
		"updated_at": h.UpdatedAt.Format(time.RFC3339Nano), "secret_rotated_at": h.SecretRotatedAt.Format(time.RFC3339Nano),
	}
}

func (b *backend) pathHookRead(ctx context.Context, req *logical.Request, sc *hookScope, name string) (*logical.Response, error) {
	h, err := b.findHook(ctx, req.Storage, sc.owner, name)
	if err != nil || h == nil {
		return nil, err
	}
	return &logical.Response{Data: hookData(h)}, nil
}

func (b *backend) pathHookList(ctx context.Context, req *logical.Request, sc *hookScope, _ struct{}) (*logical.Response, error) {
	hooks, err := b.loadHooks(ctx, req.Storage, sc.owner)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(hooks))
	info := map[string]interface{}{}
	for _, h := range hooks {
		keys = append(keys, h.Name)
		info[h.Name] = map[string]interface{}{"url": h.URL, "events": nonNil(h.Events), "enabled": h.Enabled}
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// pathHookDelete deletes a webhook and its delivery records: events
// already queued for it are still delivered (they carry what they need).
func (b *backend) pathHookDelete(ctx context.Context, req *logical.Request, sc *hookScope, name string) (*logical.Response, error) {
	lock := b.hookLock(sc.owner, name)
	lock.Lock()
	defer lock.Unlock()
	h, err := b.findHook(ctx, req.Storage, sc.owner, name)
	if err != nil || h == nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, sc.owner.prefix()+name); err != nil {
		return nil, fmt.Errorf("delete webhook: %w", err)
	}
	b.hooks.drop(sc.owner.cacheKey())
	if _, err := deleteTree(ctx, req.Storage, sc.owner.deliveryPrefix(name)); err != nil {
		return nil, err
	}
	return nil, b.recordHookChange(ctx, req, sc, h, opWebhookDelete)
}

// pathHookRotate gives the webhook a new secret (and incarnation ID) and
// shows it this once.
func (b *backend) pathHookRotate(ctx context.Context, req *logical.Request, sc *hookScope, name string) (*logical.Response, error) {
	lock := b.hookLock(sc.owner, name)
	lock.Lock()
	defer lock.Unlock()
	old, err := b.findHook(ctx, req.Storage, sc.owner, name)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("webhook %q does not exist", name))
	}
	h := *old
	secret, err := b.giveSecret(ctx, req.Storage, sc, &h)
	if err != nil {
		return nil, err
	}
	h.UpdatedAt = h.SecretRotatedAt
	if err := b.putHook(ctx, req.Storage, &h); err != nil {
		return nil, err
	}
	if err := b.recordHookChange(ctx, req, sc, &h, opWebhookRotate); err != nil {
		return nil, err
	}
	data := hookData(&h)
	data["secret"] = secret
	return &logical.Response{Data: data}, nil
}

// deliveriesInput is a deliveries listing's webhook and page.
type deliveriesInput struct {
	name string
	page
}

func readDeliveries(d *framework.FieldData) (deliveriesInput, *logical.Response) {
	name, resp := readHookName(d)
	if resp != nil {
		return deliveriesInput{}, resp
	}
	p, resp := readPage(d, defaultDeliveriesPage, maxDeliveriesPage, attemptKeyRe.MatchString)
	return deliveriesInput{name: name, page: p}, resp
}

// pathHookDeliveries lists the webhook's attempts, newest first.
func (b *backend) pathHookDeliveries(ctx context.Context, req *logical.Request, sc *hookScope, in deliveriesInput) (*logical.Response, error) {
	h, err := b.findHook(ctx, req.Storage, sc.owner, in.name)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("webhook %q does not exist", in.name))
	}
	prefix := sc.owner.deliveryPrefix(in.name)
	keys, err := req.Storage.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	var ids []string
	var items []map[string]interface{}
	next := ""
	for _, k := range keys {
		if in.after != "" && k <= in.after {
			continue
		}
		if len(ids) == in.limit {
			next = ids[len(ids)-1]
			break
		}
		a, err := getJSON[bus.WebhookAttempt](ctx, req.Storage, prefix+k)
		if err != nil {
			return nil, err
		}
		if a != nil {
			ids, items = append(ids, k), append(items, attemptData(a))
		}
	}
	return pageResponse(req, ids, items, "deliveries", next, map[string]interface{}{"webhook": h.Name}), nil
}

const webhookHelp = `
A webhook receives the events of an agent (agents/<agent>/webhooks/<name>)
or of every agent of an org (orgs/<org>/webhooks/<name>):
message.received, message.sent, message.failed, login.reported. Each is
POSTed as JSON ({"type", "timestamp", "data"}) by a relay, signed per the
Standard Webhooks spec (webhook-id, webhook-timestamp, webhook-signature:
v1,<base64 HMAC-SHA256 of id.timestamp.body>) with the webhook's secret,
which the response that makes the webhook shows once (and rotate-secret,
again once). A 2xx answer is a delivery; anything else is retried after 5 s,
30 s, 2 min, 10 min, 30 min, then hourly, for a day. Each event has a stable
webhook-id: drop a duplicate by it. The URL must be https, and a loopback,
private or link-local address is refused unless the operator allows it
(config webhook_allow_private, webhook_allowed_hosts).
`
