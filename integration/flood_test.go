package integration

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// A flood at one agent: 2,000 mails from one sender domain. The relay
// takes its per-domain burst and answers the rest with a temporary 451 (a
// real sender retries; nothing is dropped), the plugin stores every mail
// it accepted and its memory stays bounded, and a verified code mail sent
// in the middle of the flood is what messages/wait returns.
func TestFloodIsRefusedTemporarilyAndNeverHidesTheCode(t *testing.T) {
	s := startInbound(t, "bot")
	to := "bot@" + s.Domain
	flood := s.DNS.Sender(t, "flood.test", harness.SenderOptions{SPF: "v=spf1 ip4:127.0.0.0/8 -all"})
	svc := s.DNS.Sender(t, "svc.example", harness.SenderOptions{})
	floodIP, svcIP := net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.1")

	// One message first, so the plugin's inbox index is loaded and warm.
	require.NoError(t, harness.SendMail(s.Relay.Addr, floodIP, "mx.flood.test", "a@flood.test", []string{to},
		flood.Sign(trustMail("Flood <a@flood.test>", to, "100000", "https://flood.test/x"))))
	stored := func() float64 {
		return s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot", nil)["messages_total"].(float64)
	}
	require.Eventually(t, func() bool { return stored() == 1 }, 20*time.Second, 50*time.Millisecond)
	rssBefore := harness.PluginRSS(t, s.Vault)

	const total, workers = 2000, 8
	var accepted, refused atomic.Int64
	var mu sync.Mutex
	others := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	codeSent := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if i == total/4 {
					close(codeSent) // a quarter in: the service sends the real code
				}
				raw := flood.Sign(trustMail("Flood <a@flood.test>", to, fmt.Sprintf("%06d", 200000+i), "https://flood.test/x"))
				err := harness.SendMail(s.Relay.Addr, floodIP, "mx.flood.test", "a@flood.test", []string{to}, raw)
				var te *textproto.Error
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.As(err, &te) && te.Code == 451 && strings.HasPrefix(te.Msg, "4.7.1 "):
					refused.Add(1)
				default:
					mu.Lock()
					others[fmt.Sprint(err)]++
					mu.Unlock()
				}
			}
		}()
	}

	type waited struct {
		status int
		data   map[string]interface{}
	}
	got := make(chan waited, 1)
	go func() {
		<-codeSent
		start := time.Now()
		st, d := s.wait("bot", "timeout=30&from=svc.example")
		got <- waited{st, d}
		t.Logf("the code's wait returned %d after %s", st, time.Since(start))
	}()
	<-codeSent
	require.NoError(t, harness.SendMail(s.Relay.Addr, svcIP, "mx.svc.example", "noreply@svc.example", []string{to},
		svc.Sign(trustMail("SVC <noreply@svc.example>", to, "739142", "https://svc.example/verify?token=z9y8x7w6v5u4"))),
		"the real sender's mail is accepted during the flood")
	wg.Wait()

	w := <-got
	require.Equal(t, http.StatusOK, w.status, "%v", w.data)
	require.Equal(t, "739142", w.data["code"])
	require.Equal(t, "verified", w.data["trust"])

	t.Logf("flood: %d accepted, %d refused with 451 4.7.1, other outcomes %v", accepted.Load(), refused.Load(), others)
	require.Empty(t, others, "every refusal is a temporary 451 4.7.1")
	require.Equal(t, int64(total), accepted.Load()+refused.Load())
	// The per-domain burst (600) plus what refills while the flood runs.
	require.Greater(t, refused.Load(), int64(total/2), "the flood was not limited")
	require.LessOrEqual(t, accepted.Load(), int64(600+200))

	// Everything accepted is stored: the flood's, the first and the code.
	want := float64(accepted.Load() + 2)
	require.Eventually(t, func() bool { return stored() == want }, 60*time.Second, 100*time.Millisecond, "stored %v of %v", stored(), want)
	rssAfter := harness.PluginRSS(t, s.Vault)
	t.Logf("plugin RSS: %.1f MiB before the flood, %.1f MiB after (%d messages in the inbox)",
		float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20), int(want))
	require.Less(t, rssAfter-rssBefore, int64(128<<20), "the plugin's memory grew by more than 128 MiB")
}
