// Package plugin is the Mailgent secrets engine: agent identities with an
// inbox, an envelope-encrypted credential vault and TOTP codes, served by
// Vault through the plugin multiplexer. See ../README.md and docs/.
package plugin

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/version"
)

// Factory returns a configured backend. It does no I/O
// (docs/architecture.md, invariant 8): the mount must come up and serve
// credential paths with NATS down, so connecting to the bus waits for
// InitializeFunc.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(conf.Logger)
	b.mountID = conf.BackendUUID
	if conf.System != nil {
		c := *conf
		c.System = &replicationStateCache{SystemView: conf.System}
		conf = &c
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// replicationStateCache is the system view with ReplicationState answered
// from memory for up to a second. The framework asks for it on every
// request (to refuse writes on performance standbys and secondaries), and
// for an external plugin every ask is a gRPC call back into Vault, a round
// trip on the hottest paths (docs/benchmarks.md). A node's replication
// state changes only when it changes role, and Vault sets its mounts up
// again then; meanwhile a second-old answer would at worst let a write
// reach storage that refuses it as read-only.
type replicationStateCache struct {
	logical.SystemView
	cached atomic.Pointer[replicationStateAt]
}

type replicationStateAt struct {
	state consts.ReplicationState
	at    time.Time
}

func (c *replicationStateCache) ReplicationState() consts.ReplicationState {
	if r := c.cached.Load(); r != nil && time.Since(r.at) < time.Second {
		return r.state
	}
	st := c.SystemView.ReplicationState()
	c.cached.Store(&replicationStateAt{state: st, at: time.Now()})
	return st
}

// backend is one mount of the engine. ServeMultiplex runs one per mount in
// the same process, so everything lives here and nothing at package level.
type backend struct {
	*framework.Backend

	logger hclog.Logger

	// configLock guards read-modify-write of the config entry.
	configLock sync.RWMutex

	// metrics are the engine's counters (metrics.go, path_health.go).
	metrics *pluginMetrics
	// supervisor runs the bus on the active node (bus.go): started in
	// InitializeFunc, stopped in Clean.
	supervisor *busSupervisor

	// mountID is the mount's UUID, bound into every sealed entry's
	// additional data so an entry copied to another mount does not open.
	mountID string
	// locks serialise read-modify-write of one storage entry; msgLocks one
	// inbound message's store (taken before, never after, a lock of locks);
	// sendLocks one agent's sends (held across the publish).
	locks     []*locksutil.LockEntry
	msgLocks  []*locksutil.LockEntry
	sendLocks []*locksutil.LockEntry
	// identityLock serialises org and agent changes (create, update,
	// revoke, org delete): rare admin operations that span entries.
	identityLock sync.Mutex
	// agents caches agent entries and KEKs; creds sealed credentials and
	// their metadata; entities entity names.
	agents   *agentCache
	creds    *credCache
	entities *entityCache
	// now is the clock; tests replace it.
	now func() time.Time
	// sweeps tracks the periodic sweeps.
	sweeps sweepState
	// auditQueue group-commits audit events.
	auditQueue auditQueue
	// largeInbound admits largeInboundAtOnce inbound messages with a blob
	// at a time (consumer.go).
	largeInbound chan struct{}
	// inboxNotify wakes messages/wait callers.
	inboxNotify *inboxNotifier
	// inboxIdx is the in-memory index of each agent's inbox (inbox_index.go).
	inboxIdx inboxIndexes
	// totpLast is what this node knows of the last TOTP step handed out,
	// by credential (totp_fresh.go).
	totpLast totpLastCache
	// sentIdx is the in-memory index of each agent's sent mail, for
	// threads (sent_index.go).
	sentIdx sentIndexes
	// cfgCache holds the decoded config (path_config.go).
	cfgCache configCache
	// directory is what the bus work has to republish of the address
	// directory (directory.go).
	directory directoryWork
	// bus is the connected bus the send path queues outbound mail to;
	// nil while not connected (bus.go).
	busMu sync.Mutex
	bus   mailBus
	// relayReg is the registered relays (path_relays.go); opener the bus
	// work's inbound Opener, told to forget its sessions when they change.
	relayReg relayRegistry
	opener   atomic.Pointer[bus.Opener]
	// hooks caches each agent's and org's webhooks (webhooks.go);
	// lookupIP resolves their hosts when they are written (tests replace it).
	hooks    webhookCache
	lookupIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func newBackend(logger hclog.Logger) *backend {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	b := &backend{
		logger:    logger,
		locks:     locksutil.CreateLocks(),
		msgLocks:  locksutil.CreateLocks(),
		sendLocks: locksutil.CreateLocks(),
		agents:    &agentCache{},
		creds:     newCredCache(),
		entities:  newEntityCache(),

		inboxNotify:  newInboxNotifier(),
		largeInbound: make(chan struct{}, largeInboundAtOnce),
		directory:    directoryWork{signal: make(chan struct{}, 1)},
		now:          time.Now,
		lookupIP:     net.DefaultResolver.LookupNetIP,
	}
	b.supervisor = newBusSupervisor(logger.Named("bus"))
	b.metrics = newPluginMetrics(b)
	b.supervisor.serve = b.serveBus
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Seal-wrapped where the seal supports it (Enterprise, HSM/KMS).
			SealWrapStorage: []string{configStorageKey, inboundKeyStorageKey, dkimStorageKey, busSigningStorageKey, kekPrefix, webhookKEKStorageKey},
			// A load balancer or monitor polls health without a token.
			Unauthenticated: []string{"health"},
		},
		Paths: framework.PathAppend(
			b.pathDKIM(), // before config: more specific
			b.pathRelays(),
			b.pathHealth(),
			b.pathConfig(),
			b.pathOrgs(),
			b.pathAgents(),
			b.pathPolicies(),
			b.pathCreds(),
			b.pathTOTP(),
			b.pathBackupCode(),
			b.pathLogin(),
			b.pathAudit(),
			b.pathWait(), // before messages/:id
			b.pathMessages(),
			b.pathSend(),
			b.pathSent(),
			b.pathThreads(),
			b.pathWebhooks(),
		),
		PeriodicFunc:   b.periodic,
		InitializeFunc: b.initialize,
		Clean:          b.clean,
		Invalidate:     b.invalidate,
		RunningVersion: version.Version,
	}
	return b
}

// HandleRequest is the framework's, except that a field it cannot convert
// (a map where a list belongs) is answered without the value: the
// framework's message quotes it, and it may be a secret — a password, a
// backup code — that would reach the client and Vault's audit log in clear.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	resp, err := b.Backend.HandleRequest(ctx, req)
	if resp == nil || !resp.IsError() {
		return resp, err
	}
	msg := resp.Error().Error()
	if !strings.HasPrefix(msg, "Field validation failed: ") {
		return resp, err
	}
	_, rest, ok := strings.Cut(msg, `for field "`)
	field, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		return logical.ErrorResponse("a field has the wrong type; see the path's help"), nil
	}
	return logical.ErrorResponse("%s: has the wrong type; see the path's help for what it takes", field), nil
}

// initialize starts background work, but only where this node may write
// storage: the active node of a primary cluster (or a local mount).
func (b *backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	if !b.WriteSafeReplicationState() {
		b.logger.Debug("not the active node; background work stays off")
		return nil
	}
	b.supervisor.start(req.Storage)
	return nil
}

func (b *backend) clean(ctx context.Context) {
	b.supervisor.stop()
	b.agents.reset()
	b.creds.reset()
	b.inboxIdx.reset()
	b.totpLast.reset()
	b.sentIdx.reset()
	b.cfgCache.drop()
	b.relayReg.drop()
	b.hooks.reset()
}

// invalidate is called when another node changed a key we cache or act on.
func (b *backend) invalidate(ctx context.Context, key string) {
	switch {
	case key == configStorageKey:
		b.cfgCache.drop()
		b.supervisor.configChanged()
	case strings.HasPrefix(key, agentPrefix), strings.HasPrefix(key, kekPrefix):
		// A revocation on another node: its waiters here re-check.
		name := strings.TrimPrefix(strings.TrimPrefix(key, agentPrefix), kekPrefix)
		b.agents.drop(name)
		b.inboxNotify.notify(name)
	case strings.HasPrefix(key, relayPrefix):
		b.relaysChanged()
	case strings.HasPrefix(key, webhookPrefix):
		if o, _, ok := parseHookRef(strings.TrimPrefix(key, webhookPrefix)); ok {
			b.hooks.drop(o.cacheKey())
		}
	case strings.HasPrefix(key, credMetaPrefix), strings.HasPrefix(key, credVersionPrefix):
		b.invalidateCred(key)
	case strings.HasPrefix(key, sentPrefix):
		b.sentIdx.drop(agentOfSentKey(key))
	case strings.HasPrefix(key, totpLastPrefix):
		b.totpLast.drop(strings.TrimPrefix(key, totpLastPrefix))
	case strings.HasPrefix(key, inboxSumPrefix), strings.HasPrefix(key, inboxRecPrefix):
		// A standby learns of new mail here; its waiters look again.
		agent := agentFromInboxKey(key)
		b.inboxIdx.drop(agent)
		b.inboxNotify.notify(agent)
	}
}

const backendHelp = `
The Mailgent secrets engine gives each AI agent an identity of its own: an
email address with an inbox, an encrypted credential vault and TOTP codes on
demand, with a delegation chain and an audit trail on every access.

Start with "config" to set the email domain and the NATS connection, then
create an org (orgs/<org>) and agents in it (agents/<agent>).
`
