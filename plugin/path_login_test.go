package plugin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestLoginReports(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/a", map[string]interface{}{"password": "hunter22", "totp_secret": rfcSeed})
	resp := tb.ok(t, logical.UpdateOperation, "agents/bot/creds/a/login", map[string]interface{}{"outcome": "success", "detail": "dashboard reached"})
	require.NotEmpty(t, resp.Data["event_id"])
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/a", nil)
	require.Equal(t, "success", resp.Data["last_login"].(map[string]interface{})["outcome"])

	for _, tc := range []struct {
		data  map[string]interface{}
		field string
	}{
		{map[string]interface{}{"outcome": "maybe"}, "outcome"},
		{map[string]interface{}{}, "outcome"},
		{map[string]interface{}{"outcome": "failure", "detail": "tried hunter22"}, "detail"},
		{map[string]interface{}{"outcome": "failure", "detail": "seed " + strings.ToLower(rfcSeed)}, "detail"},
		{map[string]interface{}{"outcome": "failure", "detail": strings.Repeat("x", 5000)}, "detail"},
	} {
		resp, err := tb.do(logical.UpdateOperation, "agents/bot/creds/a/login", tc.data)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", tc.data)
		require.Contains(t, resp.Error().Error(), tc.field)
	}
}

// A report lands in the audit trail with who reported it and the outcome,
// and on the credential as last_login; a revoked agent's report is a 410
// on the record, an unknown credential's a 404.
func TestLoginReportRecordsAndRefuses(t *testing.T) {
	tb := newTestBackend(t)
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return at }
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "hunter22"})

	resp := tb.ok(t, logical.CreateOperation, "agents/bot/creds/site/login", map[string]interface{}{"outcome": "FAILURE", "detail": "wrong code"})
	require.Equal(t, "failure", resp.Data["outcome"])
	require.Equal(t, []string{"human:token-alice", "org:acme", "agent:bot"}, resp.Data["delegation_chain"])
	require.Equal(t, at.Format(time.RFC3339Nano), resp.Data["at"])
	events := tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": opLoginReport}).Data["events"].([]map[string]interface{})
	require.Len(t, events, 1)
	ev := events[0]
	require.Equal(t, resp.Data["event_id"], ev["id"])
	require.Equal(t, opLoginReport, ev["operation"])
	require.Equal(t, outcomeFailure, ev["outcome"])
	require.Equal(t, "site", ev["credential"])
	require.Equal(t, 1, ev["version"])
	require.Equal(t, "wrong code", ev["detail"])
	last := tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", nil).Data["last_login"].(map[string]interface{})
	require.Equal(t, "failure", last["outcome"])

	_, err := tb.do(logical.UpdateOperation, "agents/bot/creds/nope/login", map[string]interface{}{"outcome": "success"})
	requireCoded(t, err, http.StatusNotFound)

	for name, data := range map[string]map[string]interface{}{
		"unknown field": {"outcome": "success", "colour": "red"},
		"bad cred name": {"outcome": "success"},
	} {
		path := "agents/bot/creds/site/login"
		if name == "bad cred name" {
			path = "agents/bot/creds/../login"
		}
		resp, err := tb.do(logical.UpdateOperation, path, data)
		require.NoError(t, err)
		require.True(t, resp.IsError(), name)
	}

	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	_, err = tb.do(logical.UpdateOperation, "agents/bot/creds/site/login", map[string]interface{}{"outcome": "success"})
	requireCoded(t, err, http.StatusGone)
	requireDeniedEvent(t, tb, "bot", opLoginReport)
}
