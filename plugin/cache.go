package plugin

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Caches on the hot path (a TOTP code, a credential read). Each storage
// read is a gRPC call from the plugin back into Vault, which costs about as
// much as the request itself; these caches keep a TOTP request to the one
// storage write it must make, its audit event. They hold only what storage
// holds — sealed ciphertext and secret-free metadata, never plaintext —
// and are dropped for a credential whenever this node writes it and in
// Invalidate when another node did.

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

func (c *lockedMap[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]V{}
	}
	c.m[k] = v
}

func (c *lockedMap[V]) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.m, k)
}

func (c *lockedMap[V]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.m = nil
}

// maxCachedCreds bounds the credential cache; past it the cache restarts.
const maxCachedCreds = 50_000

type credCache struct {
	mu    sync.RWMutex
	metas map[string]*credMeta          // agent/cred → metadata
	boxes map[string]map[int]*sealedBox // agent/cred → version → ciphertext
	// epoch counts drops. A reader notes it before its storage read and
	// fills the cache only if no drop happened meanwhile, so a read that
	// raced a write never caches what the write replaced.
	epoch uint64
}

func newCredCache() *credCache {
	return &credCache{metas: map[string]*credMeta{}, boxes: map[string]map[int]*sealedBox{}}
}

func (c *credCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

func credCacheKey(agent, cred string) string { return agent + "/" + cred }

func (c *credCache) meta(key string) *credMeta {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.metas[key]
}

func (c *credCache) box(key string, v int) *sealedBox {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.boxes[key][v]
}

func (c *credCache) putMeta(key string, m *credMeta, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if len(c.metas) >= maxCachedCreds {
		c.metas, c.boxes = map[string]*credMeta{}, map[string]map[int]*sealedBox{}
	}
	c.metas[key] = m
}

func (c *credCache) putBox(key string, v int, s *sealedBox, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if c.boxes[key] == nil {
		c.boxes[key] = map[int]*sealedBox{}
	}
	c.boxes[key][v] = s
}

// drop forgets one credential, all versions.
func (c *credCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.metas, key)
	delete(c.boxes, key)
}

// dropAgent forgets every credential of an agent.
func (c *credCache) dropAgent(agent string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	prefix := agent + "/"
	for k := range c.metas {
		if strings.HasPrefix(k, prefix) {
			delete(c.metas, k)
		}
	}
	for k := range c.boxes {
		if strings.HasPrefix(k, prefix) {
			delete(c.boxes, k)
		}
	}
}

func (c *credCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.metas, c.boxes = map[string]*credMeta{}, map[string]map[int]*sealedBox{}
}

// readCredMeta returns a credential's metadata, from the cache when it can.
// Callers must not modify the result: copy it first.
func (b *backend) readCredMeta(ctx context.Context, s logical.Storage, agent, cred string) (*credMeta, error) {
	key := credCacheKey(agent, cred)
	if m := b.creds.meta(key); m != nil {
		return m, nil
	}
	epoch := b.creds.currentEpoch()
	m, err := getJSON[credMeta](ctx, s, credMetaKey(agent, cred))
	if err != nil || m == nil {
		return m, err
	}
	b.creds.putMeta(key, m, epoch)
	return m, nil
}

// readSealed returns one sealed version, from the cache when it can.
func (b *backend) readSealed(ctx context.Context, s logical.Storage, agent, cred string, v int) (*sealedBox, error) {
	key := credCacheKey(agent, cred)
	if box := b.creds.box(key, v); box != nil {
		return box, nil
	}
	epoch := b.creds.currentEpoch()
	box, err := getJSON[sealedBox](ctx, s, credVersionKey(agent, cred, v))
	if err != nil || box == nil {
		return box, err
	}
	b.creds.putBox(key, v, box, epoch)
	return box, nil
}

// invalidateCred handles credmeta/ and credver/ keys in Invalidate.
func (b *backend) invalidateCred(key string) {
	rest, ok := strings.CutPrefix(key, credMetaPrefix)
	if !ok {
		rest, _ = strings.CutPrefix(key, credVersionPrefix)
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) >= 2 {
		b.creds.drop(credCacheKey(parts[0], parts[1]))
	}
}

// entityTTL is how long an entity is remembered: entities are renamed
// rarely, and the ID — which never changes — is always current.
const entityTTL = time.Minute

type entityCache struct {
	mu      sync.Mutex
	entries map[string]entityCacheEntry
}

type entityCacheEntry struct {
	info    entityInfo
	expires time.Time
}

func newEntityCache() *entityCache { return &entityCache{entries: map[string]entityCacheEntry{}} }

func (c *entityCache) get(id string, now time.Time) (entityInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || now.After(e.expires) {
		return entityInfo{}, false
	}
	return e.info, true
}

func (c *entityCache) put(id string, info entityInfo, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > 10_000 {
		c.entries = map[string]entityCacheEntry{}
	}
	c.entries[id] = entityCacheEntry{info: info, expires: now.Add(entityTTL)}
}
