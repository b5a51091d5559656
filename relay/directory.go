package relay

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// directory is the relay's view of the plugin's address directory: which
// agents are live, and the public key to seal their mail to. It follows the
// NATS KV bucket the plugin writes, so an agent created or revoked in Vault
// is accepted or refused here within moments — with no Vault token here.
type directory struct {
	domain string
	logger *slog.Logger

	mu     sync.RWMutex
	synced bool // the initial state has been read
	agents map[string]bool
	// gone are agents whose key was deleted: revoked (the KV keeps delete
	// markers). An agent in neither map is not known yet.
	gone   map[string]bool
	pubkey []byte
	// signerKey is the plugin's outbound signing key; relays the key IDs
	// of the registered relays.
	signerKey []byte
	relays    map[string]bool
}

func newDirectory(domain string, logger *slog.Logger) *directory {
	return &directory{domain: domain, logger: logger, agents: map[string]bool{}, gone: map[string]bool{}, relays: map[string]bool{}}
}

// lookup tells whether agent is live; ready is false until the directory
// has been read once (then RCPT must be deferred with a 4xx, not refused).
func (d *directory) lookup(agent string) (live, ready bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.agents[agent], d.synced
}

// ready tells whether the directory has been read once.
func (d *directory) ready() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.synced
}

// revoked tells whether the directory saw the agent removed.
func (d *directory) revoked(agent string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.gone[agent] && !d.agents[agent]
}

func (d *directory) publicKey() []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pubkey
}

// signer is the plugin's outbound signing key (nil until published).
func (d *directory) signer() []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.signerKey
}

// registered tells whether the plugin lists a relay key ID as registered.
func (d *directory) registered(keyID string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.relays[keyID]
}

// run follows the bucket until ctx ends, re-watching after errors.
func (d *directory) run(ctx context.Context, kv jetstream.KeyValue) {
	for ctx.Err() == nil {
		if err := d.follow(ctx, kv); err != nil {
			d.logger.Warn("watch address directory; retrying", "error", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		if ctx.Err() == nil {
			d.logger.Warn("address directory watch ended; re-watching")
			sleepCtx(ctx, 250*time.Millisecond)
		}
	}
}

// follow watches the bucket once: its initial values, whose agents replace
// the ones known (an agent deleted meanwhile is gone), then each change,
// until the watch ends.
func (d *directory) follow(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchFiltered(ctx, []string{bus.DirectoryAgentFilter(d.domain), bus.DirectoryPublicKeyKey(d.domain),
		bus.DirectorySignerKey(d.domain), bus.DirectoryRelayFilter(d.domain)})
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	fresh := map[string]bool{}
	initial := true
	for e := range w.Updates() {
		if e == nil { // end of the initial values
			d.mu.Lock()
			if initial {
				d.agents = fresh
			}
			d.synced, initial = true, false
			n := len(d.agents)
			d.mu.Unlock()
			d.logger.Info("address directory synced", "agents", n, "public_key", d.publicKey() != nil)
			continue
		}
		if initial {
			d.apply(e, fresh)
		} else {
			d.apply(e, nil)
		}
	}
	return nil
}

// apply takes one directory entry. An agent's goes to initial while the
// initial values are read (initial is not nil), else to the live agents,
// and the change is logged.
func (d *directory) apply(e jetstream.KeyValueEntry, initial map[string]bool) {
	deleted := e.Operation() != jetstream.KeyValuePut
	relayPrefix := strings.TrimSuffix(bus.DirectoryRelayFilter(d.domain), "*")
	d.mu.Lock()
	defer d.mu.Unlock()
	switch key := e.Key(); {
	case key == bus.DirectoryPublicKeyKey(d.domain):
		d.pubkey = valueOrNil(e, deleted)
	case key == bus.DirectorySignerKey(d.domain):
		d.signerKey = valueOrNil(e, deleted)
	case strings.HasPrefix(key, relayPrefix):
		if deleted {
			delete(d.relays, strings.TrimPrefix(key, relayPrefix))
		} else {
			d.relays[strings.TrimPrefix(key, relayPrefix)] = true
		}
	case bus.AgentFromDirectoryKey(d.domain, key) != "":
		agent := bus.AgentFromDirectoryKey(d.domain, key)
		agents := initial
		if agents == nil {
			agents = d.agents
		}
		if deleted {
			delete(agents, agent)
			d.gone[agent] = true
		} else {
			agents[agent] = true
			delete(d.gone, agent)
		}
		if initial == nil {
			d.logger.Info("address directory change", "agent", agent, "live", !deleted)
		}
	}
}

func valueOrNil(e jetstream.KeyValueEntry, deleted bool) []byte {
	if deleted {
		return nil
	}
	return append([]byte(nil), e.Value()...)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
