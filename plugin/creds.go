package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// An agent's credentials in storage: a plaintext metadata entry (no
// secrets) and one sealed entry per version (sealing.go), each version
// with its own DEK.
const (
	credMetaPrefix    = "credmeta/" // credmeta/<agent>/<cred> → credMeta
	credVersionPrefix = "credver/"  // credver/<agent>/<cred>/<version> → sealedBox (JSON)
)

func credMetaKey(agent, cred string) string { return credMetaPrefix + agent + "/" + cred }

func credVersionKey(agent, cred string, v int) string {
	return credVersionPrefix + agent + "/" + cred + "/" + strconv.Itoa(v)
}

// credMeta describes a credential without any secret.
type credMeta struct {
	// CurrentVersion is the newest version; 0 before the first write.
	CurrentVersion int `json:"current_version"`
	// MaxVersions is how many versions are kept.
	MaxVersions int `json:"max_versions"`
	// Versions maps each kept version to when it was written.
	Versions map[int]time.Time `json:"versions"`
	// CreatedAt and UpdatedAt bound the credential's life.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// URL is the site the credential is for (not a secret; listed).
	URL string `json:"url,omitempty"`
	// TOTPEnabled tells whether the current version has a TOTP seed.
	TOTPEnabled bool `json:"totp_enabled"`
	// LastLogin is the agent's latest login report for this credential.
	LastLogin *loginReport `json:"last_login,omitempty"`
	// Backup is which backup codes of the current set were handed out
	// (backup_codes.go); nil without any.
	Backup *backupCodeState `json:"backup,omitempty"`
}

// loginReport is what an agent reported about a login attempt.
type loginReport struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
}

// credRecord is the plaintext of one credential version: the part that is
// sealed.
type credRecord struct {
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	URL      string            `json:"url,omitempty"`
	TOTP     *totpSecret       `json:"totp,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	// BackupCodes are the site's one-time recovery codes, and BackupSet
	// the ID of that set (backup_codes.go).
	BackupCodes []string `json:"backup_codes,omitempty"`
	BackupSet   string   `json:"backup_set,omitempty"`
}

// credLock serialises read-modify-write of one credential.
func (b *backend) credLock(agent, cred string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, credMetaKey(agent, cred))
}

// openVersion reads and decrypts one version. A missing version is a 404;
// one that does not open is an error that says so, never stale data.
func (b *backend) openVersion(ctx context.Context, s logical.Storage, st *agentState, cred string, version int) (*credRecord, error) {
	box, err := b.readSealed(ctx, s, st.entry.Name, cred, version)
	if err != nil {
		return nil, err
	}
	if box == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("version %d of credential %q does not exist", version, cred))
	}
	plaintext, err := open(st.kek, credAD(b.mountID, st.entry.Name, cred, version), box)
	if errors.Is(err, ErrDoesNotOpen) {
		// The text docs/api.md quotes, and clients see in the 500.
		return nil, fmt.Errorf("credential %q version %d: credential %w", cred, version, err)
	}
	if err != nil {
		return nil, fmt.Errorf("credential %q version %d: %w", cred, version, err)
	}
	defer clear(plaintext)
	rec := &credRecord{}
	if err := json.Unmarshal(plaintext, rec); err != nil {
		return nil, fmt.Errorf("credential %q version %d: decode: %w", cred, version, err)
	}
	return rec, nil
}

// openedCred is one version of a credential, opened for a read.
type openedCred struct {
	meta    *credMeta // may be the cached copy: never modify it
	rec     *credRecord
	version int
}

// loadCred resolves the credential and version (0: the current one) a
// read names, and opens it: 404 for either missing. A version that does
// not open is recorded as an error event for op before it is returned.
func (b *backend) loadCred(ctx context.Context, req *logical.Request, st *agentState, cred string, version int, op string) (*openedCred, error) {
	meta, err := b.readCredMeta(ctx, req.Storage, st.entry.Name, cred)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no credential %q", st.entry.Name, cred))
	}
	if version == 0 {
		version = meta.CurrentVersion
	}
	if _, ok := meta.Versions[version]; !ok {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("version %d of credential %q does not exist (current %d, %d kept)", version, cred, meta.CurrentVersion, len(meta.Versions)))
	}
	rec, err := b.openVersion(ctx, req.Storage, st, cred, version)
	if err != nil {
		ev := b.agentEvent(req, st.entry, op, outcomeError)
		ev.Credential, ev.Version, ev.Detail = cred, version, "credential did not decrypt"
		if rerr := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); rerr != nil {
			b.logger.Error("audit event for a failed decryption", "error", rerr)
		}
		return nil, err
	}
	return &openedCred{meta: meta, rec: rec, version: version}, nil
}

// storeVersion seals plaintext (rec, marshalled) as the credential's next
// version and stores it, then the metadata (which makes it current), then
// deletes the versions past max_versions. The caller holds the
// credential's lock.
func (b *backend) storeVersion(ctx context.Context, s logical.Storage, st *agentState, cred string, meta *credMeta, plaintext []byte, rec *credRecord, now time.Time) (int, error) {
	agent := st.entry.Name
	version := meta.CurrentVersion + 1
	box, err := seal(st.kek, credAD(b.mountID, agent, cred, version), plaintext)
	if err != nil {
		return 0, err
	}
	if err := putJSON(ctx, s, credVersionKey(agent, cred, version), box); err != nil {
		return 0, err
	}
	meta.CurrentVersion, meta.UpdatedAt = version, now
	meta.Versions[version] = now
	meta.URL, meta.TOTPEnabled = rec.URL, rec.TOTP != nil
	var expired []int
	for v := range meta.Versions {
		if v <= version-meta.MaxVersions {
			expired = append(expired, v)
			delete(meta.Versions, v)
		}
	}
	if err := putJSON(ctx, s, credMetaKey(agent, cred), meta); err != nil {
		return 0, err
	}
	for _, v := range expired {
		if err := s.Delete(ctx, credVersionKey(agent, cred, v)); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// maxCachedCreds bounds the credential cache; past it the cache restarts.
const maxCachedCreds = 50_000

// credCache holds what storage holds of credentials — sealed versions and
// secret-free metadata, never plaintext — so a TOTP request makes no
// storage read. It is dropped for a credential whenever this node writes
// it and in Invalidate when another node did.
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
