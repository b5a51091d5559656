package plugin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestHealthSaysWhetherTheEngineIsWell(t *testing.T) {
	tb := newTestBackend(t)
	resp, err := tb.do(logical.ReadOperation, "health", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.Data[logical.HTTPStatusCode], "not configured yet")
	tb.setup(t) // a config without nats_url: the bus is off, which is well…
	resp, err = tb.do(logical.ReadOperation, "health", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.Data[logical.HTTPStatusCode], "…once the bus work runs (on the active node)")
	require.Contains(t, rawBody(resp), `"bus_status":"stopped"`)
	require.NoError(t, tb.Initialize(context.Background(), &logical.InitializationRequest{Storage: tb.storage}))
	require.Eventually(t, func() bool {
		resp, err = tb.do(logical.ReadOperation, "health", nil)
		return err == nil && resp.Data[logical.HTTPStatusCode] == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	require.Contains(t, rawBody(resp), `"bus_status":"disabled"`)
	require.Contains(t, rawBody(resp), `"served_by"`)
}

func TestMetricsCountWhatHappens(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"totp_secret": "JBSWY3DPEHPK3PXP"})
	for range 3 {
		tb.ok(t, logical.ReadOperation, "agents/bot/creds/site/totp", nil)
	}
	tb.deliver(t, "bot", msgID(1), "a@x.example", "s", "123456")
	tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil)

	resp := tb.ok(t, logical.ReadOperation, "metrics", map[string]interface{}{"format": "prometheus"})
	text := rawBody(resp)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Data[logical.HTTPContentType])
	for _, want := range []string{"mailgent_totp_codes_total 3", "mailgent_inbox_indexes_loaded 1", "mailgent_inbox_messages_indexed 1", "mailgent_bus_connected 0"} {
		require.Contains(t, text, want)
	}
	audits := metricValue(t, text, "mailgent_audit_events_total")
	require.GreaterOrEqual(t, audits, 6.0, "agent and credential writes, three codes, a list")

	resp = tb.ok(t, logical.ReadOperation, "metrics", nil)
	require.Contains(t, resp.Data["prometheus"], "mailgent_totp_codes_total 3")
	bad, err := tb.do(logical.ReadOperation, "metrics", map[string]interface{}{"format": "xml"})
	require.NoError(t, err)
	require.True(t, bad.IsError())
}

// metricValue reads one unlabelled sample of a Prometheus text body.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("no %s in\n%s", name, text)
	return 0
}

// rawBody is a raw response's body, which the framework hands over as a
// string (a JSON body it made) or bytes (one the handler made).
func rawBody(resp *logical.Response) string {
	switch b := resp.Data[logical.HTTPRawBody].(type) {
	case []byte:
		return string(b)
	case string:
		return b
	}
	return ""
}
