package relay

import (
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimits caps how much mail one client IP and one sender domain may
// hand this relay, so a flood at an agent is refused with a temporary
// reply (real senders retry) long before it reaches the agent's inbox.
// Each key gets a token bucket that refills at perMinute/60 per second and
// holds perMinute tokens; a message takes one token from its sender
// domain's bucket, then one from its client IP's. 0 turns a limit off.
type rateLimits struct {
	ip, domain *keyedLimiter
}

func newRateLimits(perIPPerMinute, perDomainPerMinute int) *rateLimits {
	return &rateLimits{ip: newKeyedLimiter(perIPPerMinute), domain: newKeyedLimiter(perDomainPerMinute)}
}

// allow takes a message's tokens, or returns errDomainRate or errIPRate
// (451 4.7.1: the sender retries later). The sender domain goes first, so
// a flood from one domain does not use up its client IP's budget for other
// senders' mail.
func (r *rateLimits) allow(remote, mailFrom, helo string) error {
	if !r.domain.allow(senderDomainKey(mailFrom, helo)) {
		return errDomainRate
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if !r.ip.allow(host) {
		return errIPRate
	}
	return nil
}

// senderDomainKey is MAIL FROM's domain, lower-cased; for the null sender
// (bounces) the HELO name, so bounces are limited per sending host.
func senderDomainKey(mailFrom, helo string) string {
	if at := strings.LastIndexByte(mailFrom, '@'); at >= 0 && at < len(mailFrom)-1 {
		return strings.ToLower(mailFrom[at+1:])
	}
	return "<>@" + strings.ToLower(helo)
}

// keyedLimiter is a token bucket per key. Buckets idle long enough to be
// full again are dropped, so memory follows the active keys only.
type keyedLimiter struct {
	perMinute int
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
	now       func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds memory under a flood from many keys: past it, buckets
// that have refilled are swept every second rather than every minute, and
// keys that still find no room share one bucket.
const (
	maxBuckets  = 100_000
	overflowKey = "\x00overflow"
)

func newKeyedLimiter(perMinute int) *keyedLimiter {
	return &keyedLimiter{perMinute: perMinute, buckets: map[string]*bucket{}, now: time.Now}
}

func (k *keyedLimiter) allow(key string) bool {
	if k.perMinute <= 0 {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	full := len(k.buckets) >= maxBuckets
	if since := now.Sub(k.lastSweep); since > time.Minute || full && since > time.Second {
		k.sweep(now)
	}
	b, ok := k.buckets[key]
	if !ok && len(k.buckets) >= maxBuckets {
		key = overflowKey
		b, ok = k.buckets[key]
	}
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(k.perMinute)/60), k.perMinute)}
		k.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// sweep drops buckets unused for a minute: they are full again, the same
// as a new one.
func (k *keyedLimiter) sweep(now time.Time) {
	for key, b := range k.buckets {
		if now.Sub(b.seen) >= time.Minute {
			delete(k.buckets, key)
		}
	}
	k.lastSweep = now
}
