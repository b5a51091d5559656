package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestAuditTrailRecordsFiltersAndPages(t *testing.T) {
	tb := newTestBackend(t)
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tick := 0
	tb.now = func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Minute) }
	tb.setup(t, "bot")

	tb.ok(t, logical.CreateOperation, "agents/bot/creds/a", map[string]interface{}{"password": "pw-secret-a", "totp_secret": rfcSeed})
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/b", map[string]interface{}{"password": "pw-secret-b"})
	for i := 0; i < 5; i++ {
		tb.ok(t, logical.ReadOperation, "agents/bot/creds/a/totp", nil)
	}
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/b", nil)
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/a/login", map[string]interface{}{"outcome": "failure", "detail": "wrong code"})

	resp := tb.ok(t, logical.ReadOperation, "agents/bot/audit", nil)
	events := resp.Data["events"].([]map[string]interface{})
	require.Len(t, events, 10) // create + 2 writes + 5 codes + 1 read + 1 login
	require.Equal(t, opLoginReport, events[0]["operation"])
	require.Equal(t, outcomeFailure, events[0]["outcome"])
	require.Equal(t, opAgentCreate, events[9]["operation"])
	for i := 1; i < len(events); i++ {
		require.Greater(t, events[i-1]["time"], events[i]["time"], "newest first")
	}
	e := events[1]
	require.Equal(t, "bot", e["agent"])
	require.Equal(t, []string{"human:token-alice", "org:acme", "agent:bot"}, e["delegation_chain"])
	require.Equal(t, "req-test", e["request_id"])
	require.Equal(t, "192.0.2.10", e["remote_addr"])
	require.Equal(t, "token-alice", e["display_name"])

	// No event holds a secret.
	raw, _ := json.Marshal(events)
	for _, secret := range []string{"pw-secret-a", "pw-secret-b", rfcSeed} {
		require.NotContains(t, strings.ToUpper(string(raw)), strings.ToUpper(secret))
	}

	// Filters.
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": "totp.generate"})
	require.Len(t, resp.Data["events"], 5)
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": "cred.*", "credential": "b"})
	require.Len(t, resp.Data["events"], 2)
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"since": events[1]["time"]})
	require.Len(t, resp.Data["events"], 2)

	// Paging: 3 + 3 + 3 + 1, no overlap, same order.
	var paged []string
	after := ""
	for {
		resp = tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"limit": 3, "after": after})
		for _, e := range resp.Data["events"].([]map[string]interface{}) {
			paged = append(paged, e["id"].(string))
		}
		after = resp.Data["next_cursor"].(string)
		if after == "" {
			break
		}
	}
	var all []string
	for _, e := range events {
		all = append(all, e["id"].(string))
	}
	require.Equal(t, all, paged)

	// LIST gives keys with the events as key_info.
	resp = tb.ok(t, logical.ListOperation, "agents/bot/audit", map[string]interface{}{"limit": 2})
	require.Len(t, resp.Data["keys"], 2)

	for _, bad := range []map[string]interface{}{{"limit": 0}, {"limit": 5000}, {"since": "yesterday"}, {"after": "x"}, {"credential": "../a"}, {"verbose": true}} {
		resp, err := tb.do(logical.ReadOperation, "agents/bot/audit", bad)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
		for k := range bad {
			require.Contains(t, resp.Error().Error(), k)
		}
	}
}

func TestAuditRetentionSweep(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"audit_retention": "48h"})
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return now }
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/a", map[string]interface{}{"password": "x"}) // day 0
	now = now.Add(24 * time.Hour)
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/a", nil) // day 1
	now = now.Add(49 * time.Hour)
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/a", nil) // day 3

	require.NoError(t, tb.periodic(context.Background(), &logical.Request{Storage: tb.storage}))
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/audit", nil)
	events := resp.Data["events"].([]map[string]interface{})
	require.Len(t, events, 2, "only events of the last 48h are kept")
	for _, e := range events {
		ts, err := time.Parse(time.RFC3339Nano, e["time"].(string))
		require.NoError(t, err)
		require.False(t, ts.Before(now.Add(-48*time.Hour)))
	}
}

func TestAuditGroupCommitLosesNothing(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot", "other")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/a", map[string]interface{}{"totp_secret": rfcSeed})
	tb.ok(t, logical.CreateOperation, "agents/other/creds/a", map[string]interface{}{"totp_secret": rfcSeed})
	const n = 64
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		for _, agent := range []string{"bot", "other"} {
			go func() {
				resp, err := tb.do(logical.ReadOperation, "agents/"+agent+"/creds/a/totp", nil)
				if err == nil && resp.IsError() {
					err = resp.Error()
				}
				errs <- err
			}()
		}
	}
	for i := 0; i < 2*n; i++ {
		require.NoError(t, <-errs)
	}
	for _, agent := range []string{"bot", "other"} {
		resp := tb.ok(t, logical.ReadOperation, "agents/"+agent+"/audit", map[string]interface{}{"operation": "totp.generate", "limit": 1000})
		events := resp.Data["events"].([]map[string]interface{})
		require.Len(t, events, n, "every event of %s is stored, in its own trail", agent)
		seen := map[string]bool{}
		for i, e := range events {
			require.Equal(t, agent, e["agent"])
			require.False(t, seen[e["id"].(string)], "duplicate id")
			seen[e["id"].(string)] = true
			if i > 0 {
				require.Less(t, events[i-1]["id"], e["id"], "ids ascend, newest first")
				require.GreaterOrEqual(t, events[i-1]["time"], e["time"])
			}
		}
	}
}
