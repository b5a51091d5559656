package plugin

import (
	"context"
	"crypto/ed25519"
	"fmt"
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

// watchDirectory resyncs the directory whenever agents or relays change
// (signalDirectory), until ctx ends.
func (b *backend) watchDirectory(ctx context.Context, s logical.Storage, kv jetstream.KeyValue, domain string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.directoryChanged:
			// The registry first: a change on another node left it empty.
			_, err := b.relays(ctx, s)
			if err == nil {
				err = b.syncDirectory(ctx, s, kv, domain)
			}
			if err != nil && ctx.Err() == nil {
				b.logger.Error("sync address directory", "error", err)
				// Try again shortly: a revoked agent must stop receiving.
				time.AfterFunc(time.Second, b.signalDirectory)
			}
		}
	}
}

// signalDirectory asks the bus work to resync the directory.
func (b *backend) signalDirectory() {
	select {
	case b.directoryChanged <- struct{}{}:
	default:
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
