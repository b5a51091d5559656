package plugin

import (
	"context"
	"encoding/base32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/rfc6238"
)

// codeStep reads a TOTP response: its code, and the step it belongs to
// (valid_until / period - 1).
func codeStep(t *testing.T, resp *logical.Response) (string, int64) {
	t.Helper()
	until, err := time.Parse(time.RFC3339, resp.Data["valid_until"].(string))
	require.NoError(t, err)
	return resp.Data["code"].(string), until.Unix()/int64(resp.Data["period"].(int)) - 1
}

// checkCode checks a response's code against the independent RFC 6238
// implementation for the step it names.
func checkCode(t *testing.T, resp *logical.Response, period int) int64 {
	t.Helper()
	code, step := codeStep(t, resp)
	require.Equal(t, rfc6238.Code(rfcSeeds["SHA1"], "SHA1", 6, period, time.Unix(step*int64(period), 0)), code)
	return step
}

// shiftedClock runs at real speed, starting lead before a step boundary.
func shiftedClock(period int, lead time.Duration) func() time.Time {
	p := time.Duration(period) * time.Second
	boundary := time.Now().Truncate(p).Add(10 * p) // well in the future
	offset := boundary.Add(-lead).Sub(time.Now())
	return func() time.Time { return time.Now().Add(offset) }
}

var freshSeed = base32.StdEncoding.EncodeToString(rfcSeeds["SHA1"])

// Near a step boundary, with the clock injected: a plain code, then fresh
// ones, never share a step, and a fresh code waits only for the boundary.
func TestFreshTOTPNearAStepBoundary(t *testing.T) {
	cases := []struct {
		name  string
		clock func() func() time.Time
	}{
		// 150 ms before a boundary, running.
		{"running clock", func() func() time.Time { return shiftedClock(30, 150*time.Millisecond) }},
		// 1 ms before a boundary, stopped: the plugin trusts its timer.
		{"stopped clock", func() func() time.Time {
			return func() time.Time { return time.Unix(1_800_000_029, 999_000_000) }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestBackend(t)
			tb.setup(t, "bot")
			tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": freshSeed})
			tb.now = tc.clock() // after the setup, which takes a while

			plain := checkCode(t, tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", nil), 30)
			start := time.Now()
			first := checkCode(t, tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": true}), 30)
			require.Equal(t, plain+1, first, "the plain code's step was handed out: the next one")
			require.Less(t, time.Since(start), 5*time.Second, "waited for the boundary, not a period")
		})
	}
}

// Fresh calls in a row, and concurrent ones, each get a step of their own.
func TestFreshTOTPCallsNeverShareAStep(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": freshSeed, "totp_period": 1})
	var last int64
	for i := range 3 {
		step := checkCode(t, tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": true}), 1)
		require.Greater(t, step, last, "call %d", i)
		last = step
	}
	var mu sync.Mutex
	steps := map[int64]int{}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			resp, err := tb.do(logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": true})
			require.NoError(t, err)
			_, step := codeStep(t, resp)
			mu.Lock()
			steps[step]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, steps, 3, "three concurrent fresh calls, three steps: %v", steps)
	for s := range steps {
		require.Greater(t, s, last)
	}
}

// newBackendOn mounts a second backend on the same storage and mount: a
// restarted plugin, or another node.
func newBackendOn(t *testing.T, s logical.Storage) *testBackend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger()
	conf.StorageView = s
	conf.BackendUUID = "6f1c2b9e-0000-4000-8000-000000000001"
	lb, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	b := lb.(*backend)
	t.Cleanup(func() { b.Cleanup(context.Background()) })
	return &testBackend{backend: b, storage: s}
}

// The handed-out step is in storage: a restarted plugin (or another node)
// does not hand the same step out again; a deleted credential forgets it.
func TestFreshTOTPHoldsAcrossARestart(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": freshSeed})
	at := time.Unix(1_800_000_029, 900_000_000)
	tb.now = func() time.Time { return at }
	first := checkCode(t, tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": true}), 30)

	restarted := newBackendOn(t, tb.storage)
	restarted.now = tb.now
	second := checkCode(t, restarted.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": true}), 30)
	require.Equal(t, first+1, second)

	restarted.ok(t, logical.DeleteOperation, "agents/bot/creds/s", nil)
	e, err := tb.storage.Get(context.Background(), totpLastKey("bot", "s"))
	require.NoError(t, err)
	require.Nil(t, e, "the record goes with the credential")
}

// A fresh wait ends with the client's request; a bad fresh is a 400.
func TestFreshTOTPWaitEndsWithTheRequest(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": freshSeed})
	at := time.Unix(1_800_000_010, 0) // 20 s left in the step
	tb.now = func() time.Time { return at }
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tb.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "agents/bot/creds/s/totp",
		Data: map[string]interface{}{"fresh": true}, Storage: tb.storage, MountPoint: "mailgent/", MountAccessor: testMountAccessor})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)

	resp, err := tb.do(logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"fresh": "sometimes"})
	status, msg := vaultStatus(logical.ReadOperation, resp, err)
	require.Equal(t, 400, status)
	require.True(t, strings.HasPrefix(msg, "fresh: "), msg)
}

// stepWriteCounter counts writes to the totplast entries.
type stepWriteCounter struct {
	logical.Storage
	mu   sync.Mutex
	puts int
}

func (c *stepWriteCounter) Put(ctx context.Context, e *logical.StorageEntry) error {
	if strings.HasPrefix(e.Key, totpLastPrefix) {
		c.mu.Lock()
		c.puts++
		c.mu.Unlock()
	}
	return c.Storage.Put(ctx, e)
}

// A plain code request records its step once per step, not once per request.
func TestPlainTOTPRecordsEachStepOnce(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": freshSeed})
	cs := &stepWriteCounter{Storage: tb.storage}
	tb.storage = cs
	at := time.Unix(1_800_000_000, 0)
	tb.now = func() time.Time { return at }
	for range 20 {
		tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", nil)
	}
	require.Equal(t, 1, cs.puts)
	at = at.Add(30 * time.Second)
	for range 20 {
		tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", nil)
	}
	require.Equal(t, 2, cs.puts)
	// Another node wrote a later step: this one learns it in Invalidate
	// and does not write an older one over it.
	require.NoError(t, putJSON(context.Background(), cs, totpLastKey("bot", "s"), &totpLast{ValidUntil: at.Unix() + 300}))
	tb.invalidate(context.Background(), totpLastKey("bot", "s"))
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", nil)
	last, err := readTOTPLast(context.Background(), cs, "bot", "s")
	require.NoError(t, err)
	require.Equal(t, at.Unix()+300, last)
}
