package plugin

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/webhook"
)

const configStorageKey = "config"

// inboundKeyStorageKey holds the HPKE key pair relays seal inbound mail to.
const inboundKeyStorageKey = "inbound_key"

// inboundKey is the mount's HPKE key pair; the private half never leaves
// Vault storage.
type inboundKey struct {
	Private   []byte    `json:"private"`
	Public    []byte    `json:"public"`
	CreatedAt time.Time `json:"created_at"`
}

func readInboundKey(ctx context.Context, s logical.Storage) (*inboundKey, error) {
	return getJSON[inboundKey](ctx, s, inboundKeyStorageKey)
}

// Defaults and bounds of the mount's limits.
const (
	defaultMaxInboxMessages = 1000
	defaultMaxInboxBytes    = 128 << 20
	defaultMessageRetention = 30 * 24 * time.Hour
	defaultAuditRetention   = 90 * 24 * time.Hour
	defaultMaxWaitTimeout   = 60 * time.Second
	defaultSendRateLimit    = 60
	defaultMaxLoadedInboxes = 5000

	maxMaxInboxMessages = 1_000_000
	// max_inbox_bytes stays above the relay's default largest message
	// (10 MiB), so one message always fits.
	minMaxInboxBytes  = 16 << 20
	maxMaxInboxBytes  = 1 << 40
	maxMaxWaitTimeout = 5 * time.Minute
	maxSendRateLimit  = 100_000
	minLoadedInboxes  = 10
	maxLoadedInboxes  = 10_000_000
	minRetention      = time.Minute
	maxRetention      = 10 * 365 * 24 * time.Hour
)

// mailgentConfig is the mount's configuration, stored at "config" (seal-wrapped).
type mailgentConfig struct {
	// Domain is the email domain; agents get <agent>@<domain>.
	Domain string `json:"domain"`
	// NATSURL is one NATS URL or a comma-separated list; empty disables the bus.
	NATSURL string `json:"nats_url"`
	// NATSUsername and NATSPassword authenticate to NATS. The password is
	// never returned.
	NATSUsername string `json:"nats_username"`
	NATSPassword string `json:"nats_password"`
	// NATSCACert (PEM) makes the bus TLS, verified against this CA;
	// NATSAllowPlaintext permits plain text to a host that is not loopback.
	NATSCACert         string `json:"nats_ca_cert,omitempty"`
	NATSAllowPlaintext bool   `json:"nats_allow_plaintext,omitempty"`
	// NATSReplicas is how many replicas every stream, bucket and object
	// store gets (3 on a NATS cluster); one an operator made bigger is never
	// shrunk. Absent in configs written before it existed: 0, read as 1.
	NATSReplicas int `json:"nats_replicas,omitempty"`
	// MaxInboxMessages is how many messages one agent's inbox keeps; the
	// oldest are removed first.
	MaxInboxMessages int `json:"max_inbox_messages"`
	// MaxInboxBytes bounds the raw size of one agent's mail. Past either
	// limit the oldest messages go first, never unread ones younger than
	// MaxWaitTimeout: then new mail waits in JetStream (see makeRoomLocked).
	MaxInboxBytes int64 `json:"max_inbox_bytes"`
	// MaxLoadedInboxes bounds the inbox indexes a node holds in memory; past
	// it the least recently used are dropped (and loaded again on use).
	// Absent in configs written before it existed: 0, read as the default.
	MaxLoadedInboxes int `json:"max_loaded_inboxes,omitempty"`
	// MessageRetention is how long inbox messages are kept.
	MessageRetention time.Duration `json:"message_retention"`
	// AuditRetention is how long per-agent audit events are kept.
	AuditRetention time.Duration `json:"audit_retention"`
	// MaxWaitTimeout caps the timeout of messages/wait long-polls.
	MaxWaitTimeout time.Duration `json:"max_wait_timeout"`
	// SendRateLimit is how many messages one agent may send per hour.
	SendRateLimit int `json:"send_rate_limit"`
	// RequireVerifiedSender makes messages/wait with from= consider only
	// mail whose sender domain is verified, unless the caller asks for
	// trust=any. Absent in configs written before it existed: true.
	RequireVerifiedSender bool `json:"require_verified_sender"`
	// WebhookAllowPrivate lets webhooks call non-public addresses
	// (loopback, private, link-local), over https; WebhookAllowedHosts may
	// be called over http too, at any address (internal/webhook.Policy).
	WebhookAllowPrivate bool     `json:"webhook_allow_private,omitempty"`
	WebhookAllowedHosts []string `json:"webhook_allowed_hosts,omitempty"`
}

func defaultConfig() *mailgentConfig {
	return &mailgentConfig{
		MaxInboxMessages: defaultMaxInboxMessages,
		MaxInboxBytes:    defaultMaxInboxBytes,
		MessageRetention: defaultMessageRetention,
		AuditRetention:   defaultAuditRetention,
		MaxWaitTimeout:   defaultMaxWaitTimeout,
		SendRateLimit:    defaultSendRateLimit,

		RequireVerifiedSender: true,
	}
}

func (b *backend) pathConfig() []*framework.Path {
	return []*framework.Path{{
		Pattern:        "config",
		DisplayAttrs:   pathDisplay("configuration"),
		Fields:         configFields(),
		ExistenceCheck: b.configExists,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.pathConfigRead},
			logical.CreateOperation: &framework.PathOperation{Callback: b.pathConfigWrite},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathConfigWrite},
		},
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: pathConfigHelpDesc,
	}}
}

func (b *backend) configExists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	cfg, err := readConfig(ctx, req.Storage)
	return cfg != nil, err
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	b.configLock.RLock()
	defer b.configLock.RUnlock()
	cfg, err := readConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	data := b.configResponseData(cfg)
	key, err := readInboundKey(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if key != nil {
		data["inbound_public_key"] = base64.StdEncoding.EncodeToString(key.Public)
		data["inbound_key_suite"] = "HPKE MLKEM768X25519 / HKDF-SHA256 / AES-256-GCM"
	}
	return &logical.Response{Data: data}, nil
}

// configResponseData is the one place config is turned into a response,
// and so the place where the NATS password is left out.
func (b *backend) configResponseData(cfg *mailgentConfig) map[string]interface{} {
	status, lastErr := b.supervisor.status()
	data := map[string]interface{}{
		"domain":                  cfg.Domain,
		"nats_url":                cfg.NATSURL,
		"nats_username":           cfg.NATSUsername,
		"nats_password_set":       cfg.NATSPassword != "",
		"nats_ca_cert":            cfg.NATSCACert,
		"nats_allow_plaintext":    cfg.NATSAllowPlaintext,
		"max_inbox_messages":      cfg.MaxInboxMessages,
		"max_inbox_bytes":         cfg.MaxInboxBytes,
		"max_loaded_inboxes":      cfg.loadedInboxes(),
		"message_retention":       int64(cfg.MessageRetention.Seconds()),
		"audit_retention":         int64(cfg.AuditRetention.Seconds()),
		"max_wait_timeout":        int64(cfg.MaxWaitTimeout.Seconds()),
		"send_rate_limit":         cfg.SendRateLimit,
		"require_verified_sender": cfg.RequireVerifiedSender,
		"nats_replicas":           cfg.replicas(),
		"webhook_allow_private":   cfg.WebhookAllowPrivate,
		"webhook_allowed_hosts":   nonNil(cfg.WebhookAllowedHosts),
		"bus_status":              status,
		// Standbys forward requests: bus_status is the active node's.
		"bus_status_of": servedBy(),
	}
	if lastErr != "" {
		data["bus_error"] = lastErr
	}
	return data
}

// pathConfigWrite merges a write into the mount's config. The steps:
//
//  1. unknown fields are refused;
//  2. under the config lock, the stored config (or the defaults) is
//     changed field by field: the domain (required), the bus
//     (readNATSConfig), the limits and retention (readLimits) — a bad
//     value is a 400 and changes nothing;
//  3. the keys made with the first config: the inbound key pair
//     (ensureInboundKey) and the DKIM keys (ensureDKIMKeys);
//  4. the config is stored, the cache dropped, and the bus told.
func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	b.configLock.Lock()
	defer b.configLock.Unlock()
	cfg, err := readConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = defaultConfig()
	}
	for _, read := range []func(*framework.FieldData, *mailgentConfig) *logical.Response{readDomain, readNATSConfig, readLimits, readWebhookConfig} {
		if resp := read(d, cfg); resp != nil {
			return resp, nil
		}
	}
	if err := b.ensureInboundKey(ctx, req.Storage); err != nil {
		return nil, err
	}
	if err := b.ensureDKIMKeys(ctx, req.Storage); err != nil {
		return nil, err
	}
	entry, err := logical.StorageEntryJSON(configStorageKey, cfg)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	b.cfgCache.drop()
	b.supervisor.configChanged()
	return nil, nil
}

// readDomain applies domain, which the first write must give.
func readDomain(d *framework.FieldData, cfg *mailgentConfig) *logical.Response {
	if v, ok := d.GetOk("domain"); ok {
		domain := strings.ToLower(strings.TrimSpace(v.(string)))
		if err := validateDomain(domain); err != nil {
			return logical.ErrorResponse("domain: %s", err)
		}
		cfg.Domain = domain
	}
	if cfg.Domain == "" {
		return logical.ErrorResponse("domain: is required")
	}
	return nil
}

// readLimits applies the inbox limits, the send rate limit, the sender
// rule of messages/wait, and the retention periods, each within bounds.
func readLimits(d *framework.FieldData, cfg *mailgentConfig) *logical.Response {
	ints := []struct {
		field    string
		min, max int64
		set      func(int64)
	}{
		{"max_inbox_messages", 1, maxMaxInboxMessages, func(n int64) { cfg.MaxInboxMessages = int(n) }},
		{"max_inbox_bytes", minMaxInboxBytes, maxMaxInboxBytes, func(n int64) { cfg.MaxInboxBytes = n }},
		{"send_rate_limit", 1, maxSendRateLimit, func(n int64) { cfg.SendRateLimit = int(n) }},
		{"nats_replicas", 1, 5, func(n int64) { cfg.NATSReplicas = int(n) }},
		{"max_loaded_inboxes", minLoadedInboxes, maxLoadedInboxes, func(n int64) { cfg.MaxLoadedInboxes = int(n) }},
	}
	for _, f := range ints {
		if v, ok := d.GetOk(f.field); ok {
			n := int64(v.(int))
			if n < f.min || n > f.max {
				return logical.ErrorResponse("%s: must be between %d and %d, got %d", f.field, f.min, f.max, n)
			}
			f.set(n)
		}
	}
	if v, ok, err := d.GetOkErr("require_verified_sender"); err != nil {
		return logical.ErrorResponse("require_verified_sender: %v", err)
	} else if ok {
		cfg.RequireVerifiedSender = v.(bool)
	}
	durations := []struct {
		field    string
		min, max time.Duration
		dst      *time.Duration
	}{
		{"message_retention", minRetention, maxRetention, &cfg.MessageRetention},
		{"audit_retention", minRetention, maxRetention, &cfg.AuditRetention},
		{"max_wait_timeout", time.Second, maxMaxWaitTimeout, &cfg.MaxWaitTimeout},
	}
	for _, f := range durations {
		if v, ok := d.GetOk(f.field); ok {
			dur := time.Duration(v.(int)) * time.Second
			if dur < f.min || dur > f.max {
				return logical.ErrorResponse("%s: must be between %s and %s, got %s", f.field, f.min, f.max, dur)
			}
			*f.dst = dur
		}
	}
	return nil
}

// ensureInboundKey makes the inbound key pair, once, with the first
// config.
func (b *backend) ensureInboundKey(ctx context.Context, s logical.Storage) error {
	key, err := readInboundKey(ctx, s)
	if err != nil || key != nil {
		return err
	}
	priv, pub, err := bus.GenerateInboundKey()
	if err != nil {
		return fmt.Errorf("generate inbound key: %w", err)
	}
	return putJSON(ctx, s, inboundKeyStorageKey, &inboundKey{Private: priv, Public: pub, CreatedAt: b.now().UTC()})
}

// configCache holds the decoded config: most request paths read it
// (agents/:agent for the address, messages/wait for its limit, send), and
// each read would otherwise be a gRPC call back into Vault. It is dropped
// when this node writes the config and in Invalidate when another node
// did; the epoch keeps a read that raced a write from caching what the
// write replaced. Callers get a copy.
type configCache struct {
	mu    sync.Mutex
	cfg   *mailgentConfig
	epoch uint64
}

func (c *configCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg = nil
	c.epoch++
}

// config returns the stored config (a copy), or nil if none was written
// yet, from the cache when it holds it.
func (b *backend) config(ctx context.Context, s logical.Storage) (*mailgentConfig, error) {
	c := &b.cfgCache
	c.mu.Lock()
	if c.cfg != nil {
		cp := *c.cfg
		c.mu.Unlock()
		return &cp, nil
	}
	epoch := c.epoch
	c.mu.Unlock()
	cfg, err := readConfig(ctx, s)
	if err != nil || cfg == nil {
		return cfg, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		cp := *cfg
		c.cfg = &cp
	}
	c.mu.Unlock()
	return cfg, nil
}

// readConfig returns the stored config, or nil if none was written yet.
func readConfig(ctx context.Context, s logical.Storage) (*mailgentConfig, error) {
	entry, err := s.Get(ctx, configStorageKey)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	cfg := defaultConfig()
	if err := entry.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	return cfg, nil
}

// readNATSConfig applies the bus fields of a config write: 1. the URL, 2.
// the user and password — a new URL needs the password again, so whoever
// may change the URL cannot send the stored password to a server of their
// choosing, 3. TLS: the CA and whether plain text to a remote host is
// allowed (bus.Options.CheckTransport).
func readNATSConfig(d *framework.FieldData, cfg *mailgentConfig) *logical.Response {
	_, passwordGiven := d.GetOk("nats_password")
	if v, ok := d.GetOk("nats_url"); ok {
		u := strings.TrimSpace(v.(string))
		if u != "" {
			if err := bus.ValidateURL(u); err != nil {
				return logical.ErrorResponse("nats_url: %s", err)
			}
		}
		if u != "" && u != cfg.NATSURL && cfg.NATSPassword != "" && !passwordGiven {
			return logical.ErrorResponse("nats_password: is required when nats_url changes: the stored password is never sent to a new server")
		}
		cfg.NATSURL = u
	}
	if v, ok := d.GetOk("nats_username"); ok {
		cfg.NATSUsername = v.(string)
	}
	if v, ok := d.GetOk("nats_password"); ok {
		cfg.NATSPassword = v.(string)
	}
	if cfg.NATSPassword != "" && cfg.NATSUsername == "" {
		return logical.ErrorResponse("nats_username: is required when nats_password is set")
	}
	if v, ok := d.GetOk("nats_ca_cert"); ok {
		cfg.NATSCACert = v.(string) // as given: a changed value would be drift to Terraform
	}
	if v, ok := d.GetOk("nats_allow_plaintext"); ok {
		cfg.NATSAllowPlaintext = v.(bool)
	}
	if cfg.NATSURL == "" {
		return nil
	}
	if err := cfg.busOptions().CheckTransport(); err != nil {
		field := "nats_url"
		if cfg.NATSCACert != "" {
			field = "nats_ca_cert"
		}
		return logical.ErrorResponse("%s: %s (nats_ca_cert, nats_allow_plaintext)", field, err)
	}
	return nil
}

// configFields are the config's fields, one FieldSchema each.
func configFields() map[string]*framework.FieldSchema {
	return withFields(map[string]*framework.FieldSchema{
		"domain": {
			Type:        framework.TypeString,
			Description: "Email domain of the agents' addresses (<agent>@<domain>). Required on first write.",
		},
		"nats_url": {
			Type:        framework.TypeString,
			Description: "NATS server URL, or a comma-separated list (nats://, tls://, ws://, wss://). Empty string disables the bus.",
		},
		"nats_username": {
			Type:        framework.TypeString,
			Description: "NATS user for user/password authorization.",
		},
		"nats_password": {
			Type:         framework.TypeString,
			Description:  "NATS password. Write-only: never returned.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"nats_ca_cert": {
			Type:        framework.TypeString,
			Description: "PEM CA certificate the NATS servers' TLS certificates must chain to; set, the bus is TLS and verified. Empty: tls:// URLs use the system's roots, nats:// is plain text.",
		},
		"nats_allow_plaintext": {
			Type:        framework.TypeBool,
			Description: "Allow a plain-text nats:// URL to a host that is not loopback (refused by default).",
		},
		"nats_replicas": {
			Type:        framework.TypeInt,
			Description: "Replicas of every stream, KV bucket and object store the plugin makes: 1 (one server), 3 or 5 on a NATS cluster. One an operator made bigger is never shrunk.",
			Default:     1,
		},
		"max_inbox_messages": {
			Type:        framework.TypeInt,
			Description: fmt.Sprintf("Messages kept per agent inbox, oldest removed first (1-%d).", maxMaxInboxMessages),
			Default:     defaultMaxInboxMessages,
		},
		"max_inbox_bytes": {
			Type:        framework.TypeInt,
			Description: fmt.Sprintf("Raw bytes of mail kept per agent inbox (%d-%d), oldest removed first; unread mail younger than max_wait_timeout is never removed: new mail then waits in JetStream.", minMaxInboxBytes, int64(maxMaxInboxBytes)),
			Default:     defaultMaxInboxBytes,
		},
		"max_loaded_inboxes": {
			Type: framework.TypeInt,
			Description: fmt.Sprintf("Inbox indexes a node keeps in memory (%d-%d); past it the least recently used are dropped and loaded again on use. "+
				"Index memory is at most this × max_inbox_messages × a summary's size (docs/benchmarks.md).", minLoadedInboxes, maxLoadedInboxes),
			Default: defaultMaxLoadedInboxes,
		},
		"message_retention": {
			Type:        framework.TypeDurationSecond,
			Description: "How long inbox messages are kept (e.g. 720h).",
			Default:     int(defaultMessageRetention.Seconds()),
		},
		"audit_retention": {
			Type:        framework.TypeDurationSecond,
			Description: "How long per-agent audit events are kept (e.g. 2160h).",
			Default:     int(defaultAuditRetention.Seconds()),
		},
		"max_wait_timeout": {
			Type:        framework.TypeDurationSecond,
			Description: "Upper bound of a messages/wait timeout (1s-5m).",
			Default:     int(defaultMaxWaitTimeout.Seconds()),
		},
		"send_rate_limit": {
			Type:        framework.TypeInt,
			Description: fmt.Sprintf("Messages one agent may send per hour (1-%d).", maxSendRateLimit),
			Default:     defaultSendRateLimit,
		},
		"require_verified_sender": {
			Type:        framework.TypeBool,
			Description: "messages/wait with from= returns only mail whose sender domain an aligned DKIM/SPF/DMARC pass verified, unless the caller passes trust=any (default true).",
			Default:     true,
		},
	}, webhookConfigFields())
}

// webhookConfigFields are the config's fields of which targets webhooks
// may call (readWebhookConfig).
func webhookConfigFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"webhook_allow_private": {
			Type:        framework.TypeBool,
			Description: "Let webhooks call loopback, private and link-local addresses (still over https). Default false: refused when a webhook is written and again at every delivery.",
		},
		"webhook_allowed_hosts": {
			Type:        framework.TypeCommaStringSlice,
			Description: fmt.Sprintf("Host names or IP addresses webhooks may call over http and at any address, e.g. an internal receiver (at most %d). Empty clears the list.", maxWebhookAllowedHosts),
		},
	}
}

// withFields is fields with more added.
func withFields(fields, more map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	maps.Copy(fields, more)
	return fields
}

// maxWebhookAllowedHosts bounds webhook_allowed_hosts.
const maxWebhookAllowedHosts = 100

// readWebhookConfig applies which targets webhooks may call: each allowed
// host a host name or an IP address, lower-cased.
func readWebhookConfig(d *framework.FieldData, cfg *mailgentConfig) *logical.Response {
	if v, ok, err := d.GetOkErr("webhook_allow_private"); err != nil {
		return logical.ErrorResponse("webhook_allow_private: %v", err)
	} else if ok {
		cfg.WebhookAllowPrivate = v.(bool)
	}
	v, ok, err := d.GetOkErr("webhook_allowed_hosts")
	if err != nil {
		return logical.ErrorResponse("webhook_allowed_hosts: %v", err)
	}
	if !ok {
		return nil
	}
	hosts := []string{}
	for _, h := range v.([]string) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if _, err := netip.ParseAddr(h); err != nil && !hostNameRe.MatchString(h) {
			return logical.ErrorResponse("webhook_allowed_hosts: %q is neither a host name nor an IP address", h)
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) > maxWebhookAllowedHosts {
		return logical.ErrorResponse("webhook_allowed_hosts: %d hosts, at most %d allowed", len(hosts), maxWebhookAllowedHosts)
	}
	cfg.WebhookAllowedHosts = hosts
	return nil
}

// hostNameRe is a DNS host name, one label or more.
var hostNameRe = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// webhookPolicy is which targets webhooks may call.
func (c *mailgentConfig) webhookPolicy() webhook.Policy {
	return webhook.Policy{AllowPrivate: c.WebhookAllowPrivate, AllowedHosts: c.WebhookAllowedHosts}
}

// replicas is nats_replicas, 1 when unset.
func (c *mailgentConfig) replicas() int { return max(1, c.NATSReplicas) }

// loadedInboxes is max_loaded_inboxes, the default when unset.
func (c *mailgentConfig) loadedInboxes() int {
	if c.MaxLoadedInboxes == 0 {
		return defaultMaxLoadedInboxes
	}
	return c.MaxLoadedInboxes
}

// busOptions are the config's NATS connection settings.
func (c *mailgentConfig) busOptions() bus.Options {
	return bus.Options{URL: c.NATSURL, Username: c.NATSUsername, Password: c.NATSPassword,
		CACert: []byte(c.NATSCACert), AllowPlaintext: c.NATSAllowPlaintext}
}

const pathConfigHelpSyn = `Configure the email domain, the NATS connection and the mount's limits.`

const pathConfigHelpDesc = `
The domain gives every agent its address, <agent>@<domain>. The NATS
connection is how mail reaches the plugin from mailgent-relay and leaves it
again; without nats_url the engine serves identities, credentials and TOTP
and holds no mail. Writes merge with the stored config; unknown fields and
out-of-range limits are refused with a 400 that names the field. The NATS
password is write-only.
`
