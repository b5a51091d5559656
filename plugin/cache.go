package plugin

import (
	"sync"
)

// Caches on the hot path (a TOTP code, a credential read). Each storage
// read is a gRPC call from the plugin back into Vault, a large part of
// what such a request costs; the caches — of agents and inbox indexes
// here (lockedMap), of credentials (creds.go), of the config
// (path_config.go) and of entities (requester.go) — keep a TOTP request
// to the one storage write it must make, its audit event. They hold only
// what storage holds — sealed ciphertext and secret-free metadata, never
// plaintext — and are dropped whenever this node writes what they hold
// and in Invalidate when another node did.

// lockedMap is a map safe for concurrent use, for the per-mount caches of
// whole entries (agents, inbox indexes). get returns the zero value (nil)
// for a missing key.
//
// A loader notes the epoch before its storage reads and fills the cache
// with putAt, which does nothing if a drop or reset happened meanwhile: a
// load that raced a revocation never caches the agent as it was before.
type lockedMap[V any] struct {
	mu    sync.RWMutex
	m     map[string]V
	epoch uint64
}

func (c *lockedMap[V]) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// putAt caches v unless the map was dropped from since epoch.
func (c *lockedMap[V]) putAt(k string, v V, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if c.m == nil {
		c.m = map[string]V{}
	}
	c.m[k] = v
}

func (c *lockedMap[V]) get(k string) V {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *lockedMap[V]) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.m, k)
}

// evict forgets k without moving the epoch: unlike drop it is not an
// invalidation (storage did not change), so a load in progress elsewhere
// may still cache what it read.
func (c *lockedMap[V]) evict(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// size is how many entries the map holds.
func (c *lockedMap[V]) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *lockedMap[V]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.m = nil
}
