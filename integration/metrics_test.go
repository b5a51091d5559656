package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scrape reads one sample (name with its labels, as exposed) from a
// Prometheus text body; 0 if absent.
func scrape(t testing.TB, body, sample string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err, line)
			return f
		}
	}
	return 0
}

func httpBody(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// The counters an operator's monitoring reads move under load: the
// relay's /metrics (curl-able, no token) and the plugin's mailgent/metrics;
// mailgent/health answers without a token and says which process answered.
func TestMetricsMoveUnderLoadAndHealthAnswers(t *testing.T) {
	s := startInbound(t, "bot")
	to := "bot@" + s.Domain
	relayMetrics := func() string {
		req, _ := http.NewRequest(http.MethodGet, s.Relay.MetricsURL, nil)
		st, body := httpBody(t, req)
		require.Equal(t, http.StatusOK, st)
		return body
	}
	pluginMetrics := func() string {
		req, _ := http.NewRequest(http.MethodGet, s.Vault.Addr+"/v1/mailgent/metrics?format=prometheus", nil)
		req.Header.Set("X-Vault-Token", s.Vault.Token)
		st, body := httpBody(t, req)
		require.Equal(t, http.StatusOK, st, body)
		return body
	}
	const accepted = `mailgent_relay_smtp_replies_total{code="250",command="data"}`
	const stored = `mailgent_inbound_messages_total{outcome="stored"}`
	r0, p0 := scrape(t, relayMetrics(), accepted), scrape(t, pluginMetrics(), stored)

	const n = 20
	for i := range n {
		require.NoError(t, s.send("no-reply@service.example.com", to, verificationMail(to, fmt.Sprintf("%06d", 500000+i))))
	}
	require.Eventually(t, func() bool { return scrape(t, pluginMetrics(), stored) == p0+n }, 20*time.Second, 100*time.Millisecond)
	rm, pm := relayMetrics(), pluginMetrics()
	require.Equal(t, r0+n, scrape(t, rm, accepted))
	require.GreaterOrEqual(t, scrape(t, rm, `mailgent_relay_sender_trust_total{trust="verified"}`), float64(n))
	require.Equal(t, float64(n), scrape(t, rm, "mailgent_relay_publish_seconds_count"))
	require.Equal(t, float64(n), scrape(t, pm, "mailgent_inbound_store_seconds_count"))
	require.Equal(t, 1.0, scrape(t, pm, "mailgent_bus_connected"))
	require.Equal(t, 0.0, scrape(t, pm, "mailgent_inbound_consumer_pending"), "nothing left behind")
	require.Contains(t, pm, "mailgent_inbound_consumer_ack_pending", "the lag is read from JetStream")

	// Health: no token, 200, and the process that answered.
	req, _ := http.NewRequest(http.MethodGet, s.Vault.Addr+"/v1/mailgent/health", nil)
	st, body := httpBody(t, req)
	require.Equal(t, http.StatusOK, st, body)
	require.Contains(t, body, `"bus_status":"connected"`)
	require.Contains(t, body, `"served_by"`)
}
