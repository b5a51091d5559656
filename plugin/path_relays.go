package plugin

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
)

// The relays the operator registered: only mail sealed by one of them is
// stored, and outbound mail is sealed to them (internal/bus/identity.go).
//
//	relays/<name>       a registered relay's public keys (relayEntry)
//	bus_signing_key     the plugin's Ed25519 key for outbound mail (seal-wrapped)
const (
	relayPrefix          = "relays/"
	busSigningStorageKey = "bus_signing_key"
)

// relayEntry is one registered relay.
type relayEntry struct {
	Name string `json:"name"`
	// SigningKey (Ed25519) verifies its inbound seal sessions; SealingKey
	// (HPKE) is what outbound mail is sealed to.
	SigningKey []byte    `json:"signing_key"`
	SealingKey []byte    `json:"sealing_key"`
	KeyID      string    `json:"key_id"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  actor     `json:"created_by"`
}

func (e *relayEntry) public() bus.RelayPublic {
	return bus.RelayPublic{SigningKey: e.SigningKey, SealingKey: e.SealingKey}
}

// busSigningKey is the plugin's key for outbound mail.
type busSigningKey struct {
	Seed      []byte    `json:"seed"`
	CreatedAt time.Time `json:"created_at"`
}

// relaySet is an immutable snapshot of the registered relays.
type relaySet struct {
	byID   map[string]*relayEntry
	sorted []*relayEntry // by name
}

// relayRegistry holds the snapshot the consumer checks inbound mail
// against; it is reloaded from storage after every change on this node,
// and on the next use after a change on another (Invalidate).
type relayRegistry struct {
	mu    sync.RWMutex
	set   *relaySet
	epoch uint64
}

// SigningKey implements bus.RelayKeys.
func (r *relayRegistry) SigningKey(id string) ed25519.PublicKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.set == nil || r.set.byID[id] == nil {
		return nil
	}
	return r.set.byID[id].SigningKey
}

func (r *relayRegistry) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set = nil
	r.epoch++
}

// relays returns the registered relays, loading them if needed.
func (b *backend) relays(ctx context.Context, s logical.Storage) (*relaySet, error) {
	r := &b.relayReg
	r.mu.RLock()
	set, epoch := r.set, r.epoch
	r.mu.RUnlock()
	if set != nil {
		return set, nil
	}
	names, err := s.List(ctx, relayPrefix)
	if err != nil {
		return nil, err
	}
	set = &relaySet{byID: map[string]*relayEntry{}}
	for _, n := range names {
		e, err := getJSON[relayEntry](ctx, s, relayPrefix+n)
		if err != nil {
			return nil, err
		}
		if e != nil {
			set.byID[e.KeyID] = e
			set.sorted = append(set.sorted, e)
		}
	}
	sort.Slice(set.sorted, func(i, j int) bool { return set.sorted[i].Name < set.sorted[j].Name })
	r.mu.Lock()
	if r.epoch == epoch {
		r.set = set
	}
	r.mu.Unlock()
	return set, nil
}

// publics returns what outbound mail is sealed to.
func (s *relaySet) publics() []bus.RelayPublic {
	out := make([]bus.RelayPublic, len(s.sorted))
	for i, e := range s.sorted {
		out[i] = e.public()
	}
	return out
}

// readBusSigningKey returns the plugin's outbound signing key, making it
// on first use (by the active node, which alone sends and serves the bus).
func (b *backend) readBusSigningKey(ctx context.Context, s logical.Storage) (ed25519.PrivateKey, error) {
	k, err := getJSON[busSigningKey](ctx, s, busSigningStorageKey)
	if err != nil {
		return nil, err
	}
	if k == nil {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		k = &busSigningKey{Seed: priv.Seed(), CreatedAt: b.now().UTC()}
		if err := putJSON(ctx, s, busSigningStorageKey, k); err != nil {
			return nil, err
		}
	}
	return ed25519.NewKeyFromSeed(k.Seed), nil
}

func (b *backend) pathRelays() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "config/relays/?$",
			DisplayAttrs: pathDisplay("relays"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathRelayList},
			},
			HelpSynopsis: "The relays whose mail this mount accepts and to which it seals outbound mail.",
		},
		{
			Pattern:      "config/relays/" + namePattern("name") + "$",
			DisplayAttrs: pathDisplay("relay"),
			Fields: map[string]*framework.FieldSchema{
				"name": requiredString("The relay's name (same rules as an agent name)."),
				"signing_key": {
					Type:        framework.TypeString,
					Description: "The relay's Ed25519 public key, base64 (mailgent-relay -print-registration).",
				},
				"sealing_key": {
					Type:        framework.TypeString,
					Description: "The relay's HPKE (ML-KEM-768+X25519) public key, base64 (mailgent-relay -print-registration).",
				},
			},
			ExistenceCheck: b.relayExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathRelayWrite, DisplayAttrs: opVerb("register")},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathRelayWrite, DisplayAttrs: opVerb("register")},
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathRelayRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathRelayDelete, DisplayAttrs: opVerb("deregister")},
			},
			HelpSynopsis:    "Register a relay's public keys, read or deregister it.",
			HelpDescription: relayHelp,
		},
	}
}

func (b *backend) relayExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := d.Get("name").(string)
	if validateName("name", name, agentNameRe, 64) != nil {
		return false, nil // the handler answers the 400
	}
	e, err := getJSON[relayEntry](ctx, req.Storage, relayPrefix+name)
	return e != nil, err
}

func relayData(e *relayEntry) map[string]interface{} {
	return map[string]interface{}{
		"name":        e.Name,
		"key_id":      e.KeyID,
		"signing_key": base64.StdEncoding.EncodeToString(e.SigningKey),
		"sealing_key": base64.StdEncoding.EncodeToString(e.SealingKey),
		"created_at":  e.CreatedAt.Format(time.RFC3339),
		"created_by":  e.CreatedBy.DisplayName,
	}
}

func (b *backend) pathRelayList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	set, err := b.relays(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(set.sorted))
	info := map[string]interface{}{}
	for _, e := range set.sorted {
		keys = append(keys, e.Name)
		info[e.Name] = map[string]interface{}{"key_id": e.KeyID}
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

func (b *backend) pathRelayRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := validateName("name", name, agentNameRe, 64); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	e, err := getJSON[relayEntry](ctx, req.Storage, relayPrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: relayData(e)}, nil
}

// pathRelayWrite registers a relay: 1. check the name and both keys, 2.
// refuse a key another relay already holds, 3. store, 4. reload the
// registry and republish the directory so the relay may start accepting.
func (b *backend) pathRelayWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	if err := validateName("name", name, agentNameRe, 64); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	pub, err := bus.ParseRelayPublic(strings.TrimSpace(d.Get("signing_key").(string)), strings.TrimSpace(d.Get("sealing_key").(string)))
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.configLock.Lock()
	defer b.configLock.Unlock()
	set, err := b.relays(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	id := bus.KeyID(pub.SigningKey)
	if other := set.byID[id]; other != nil && other.Name != name {
		return logical.ErrorResponse("signing_key: already registered as relay %q", other.Name), nil
	}
	e := &relayEntry{Name: name, SigningKey: pub.SigningKey, SealingKey: pub.SealingKey, KeyID: id, CreatedAt: b.now().UTC(), CreatedBy: b.requestActor(req)}
	if err := putJSON(ctx, req.Storage, relayPrefix+name, e); err != nil {
		return nil, err
	}
	b.relaysChanged()
	b.logger.Info("relay registered", "relay", name, "key_id", id, "by", e.CreatedBy.DisplayName)
	return &logical.Response{Data: relayData(e)}, nil
}

func (b *backend) pathRelayDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := validateName("name", name, agentNameRe, 64); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.configLock.Lock()
	defer b.configLock.Unlock()
	e, err := getJSON[relayEntry](ctx, req.Storage, relayPrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, relayPrefix+name); err != nil {
		return nil, fmt.Errorf("deregister relay: %w", err)
	}
	b.relaysChanged()
	b.logger.Info("relay deregistered", "relay", name, "key_id", e.KeyID, "by", b.requestActor(req).DisplayName)
	return nil, nil
}

// relaysChanged makes the next inbound message and send see the change,
// and the directory tell the relays.
func (b *backend) relaysChanged() {
	b.relayReg.drop()
	if o := b.opener.Load(); o != nil {
		o.Forget()
	}
	b.directory.all()
}

// errNoRelays answers a send while no relay is registered.
var errNoRelays = logical.CodedError(http.StatusServiceUnavailable, "no relay is registered with this mount (config/relays): outbound mail could not be sealed to any relay; nothing was sent")

const relayHelp = `
Each mailgent-relay has a key of its own (its -key-file). Register its public
halves here — mailgent-relay -print-registration prints them as the fields of
this path:

  vault write mailgent/config/relays/relay-1 signing_key=… sealing_key=…

The plugin then stores only inbound mail sealed in a session signed by a
registered relay (anything else is terminated and recorded), and seals
outbound mail to the registered relays so only they can read and deliver
it. Deregistering a relay stops both at once. The relay's key ID (key_id)
is the first 8 bytes of the SHA-256 of its signing key, in hex.
`
