package plugin

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// The address directory: a NATS KV bucket the plugin writes and the
// relays read, per domain — the live agents (a relay accepts mail only for
// them), the registered relays' key IDs, the inbound public key mail is
// sealed to, and the key outbound mail is signed with.

// publishDirectory writes the two public keys and the directory of live
// agents and registered relays.
func (b *backend) publishDirectory(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string, inboundPublic []byte) error {
	if _, err := kv.Put(ctx, bus.DirectoryPublicKeyKey(domain), inboundPublic); err != nil {
		return fmt.Errorf("publish inbound public key: %w", err)
	}
	signer, err := b.readBusSigningKey(ctx, s)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, bus.DirectorySignerKey(domain), signer.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("publish outbound signing key: %w", err)
	}
	return b.syncDirectory(ctx, s, kv, domain)
}

// directoryWork queues what the directory must be told: the agents
// created or revoked on this node — each one key to put or delete, so
// creating the 10,000th agent costs what creating the first did — or,
// after a relay change, everything (a full resync).
type directoryWork struct {
	mu     sync.Mutex
	agents map[string]bool
	full   bool
	signal chan struct{}
}

// agent queues one agent's key.
func (w *directoryWork) agent(name string) {
	w.requeue([]string{name}, false)
	w.wake()
}

// all queues a full resync.
func (w *directoryWork) all() {
	w.requeue(nil, true)
	w.wake()
}

func (w *directoryWork) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// take returns and clears what is queued.
func (w *directoryWork) take() (agents []string, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name := range w.agents {
		agents = append(agents, name)
	}
	full, w.agents, w.full = w.full, nil, false
	return agents, full
}

// requeue adds work (again, when it failed).
func (w *directoryWork) requeue(agents []string, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range agents {
		if w.agents == nil {
			w.agents = map[string]bool{}
		}
		w.agents[name] = true
	}
	w.full = w.full || full
}

// watchDirectory tells the directory what changed (directoryWork), until
// ctx ends. The bus work did a full sync when it started.
func (b *backend) watchDirectory(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.directory.signal:
			agents, full := b.directory.take()
			if err := b.applyDirectoryWork(ctx, s, kv, domain, agents, full); err != nil && ctx.Err() == nil {
				b.logger.Error("sync address directory", "error", err)
				// Try again shortly: a revoked agent must stop receiving.
				b.directory.requeue(agents, full)
				time.AfterFunc(time.Second, b.directory.wake)
			}
		}
	}
}

// applyDirectoryWork does a full resync, or puts or deletes each queued
// agent's key.
func (b *backend) applyDirectoryWork(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string, agents []string, full bool) error {
	if full {
		// The registry first: a change on another node left it empty.
		if _, err := b.relays(ctx, s); err != nil {
			return err
		}
		return b.syncDirectory(ctx, s, kv, domain)
	}
	for _, name := range agents {
		st, err := b.loadAgent(ctx, s, name)
		if err != nil {
			return err
		}
		key := bus.DirectoryAgentKey(domain, name)
		if st != nil && st.active() {
			_, err = kv.Put(ctx, key, []byte("active"))
		} else {
			err = kv.Delete(ctx, key)
		}
		if err != nil {
			return fmt.Errorf("directory %s: %w", key, err)
		}
	}
	return nil
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
