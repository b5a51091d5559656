package relay

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateLimitsPerSenderDomainThenIP(t *testing.T) {
	r := newRateLimits(5, 3)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	r.ip.now = func() time.Time { return now }
	r.domain.now = func() time.Time { return now }

	for i := range 3 {
		require.Nil(t, r.allow("127.0.0.2:4000", "a@flood.example", "h"), "message %d", i)
	}
	require.Equal(t, errDomainRate, r.allow("127.0.0.2:4000", "b@FLOOD.example", "h"), "the domain's burst is spent")
	require.Equal(t, errDomainRate, r.allow("127.0.0.3:4000", "c@flood.example", "h"), "whatever the client")
	// Refused mail took no IP token: another domain from the same IP passes.
	require.Nil(t, r.allow("127.0.0.2:4000", "x@svc.example", "h"))
	require.Nil(t, r.allow("127.0.0.2:4000", "y@svc2.example", "h"))
	require.Equal(t, errIPRate, r.allow("127.0.0.2:4001", "z@svc3.example", "h"), "5 per IP")
	// The null sender is keyed by its HELO name.
	require.Nil(t, r.allow("127.0.0.4:1", "", "mx.bounce.example"))

	// Refill: 3 per minute is one every 20 s.
	now = now.Add(21 * time.Second)
	require.Nil(t, r.allow("127.0.0.9:1", "a@flood.example", "h"))
	require.Equal(t, errDomainRate, r.allow("127.0.0.9:1", "a@flood.example", "h"))

	off := newRateLimits(0, 0)
	for range 1000 {
		require.Nil(t, off.allow("127.0.0.1:1", "a@x.example", "h"))
	}
}

func TestKeyedLimiterMemoryIsBounded(t *testing.T) {
	k := newKeyedLimiter(60)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }
	for i := range maxBuckets + 500 {
		k.allow(fmt.Sprint("10.0.", i/256, ".", i%256))
	}
	require.LessOrEqual(t, len(k.buckets), maxBuckets+1, "the overflow shares one bucket")
	now = now.Add(2 * time.Minute)
	k.allow("fresh")
	require.Len(t, k.buckets, 1, "idle buckets are swept")
}
