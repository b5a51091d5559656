package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
)

// TestInboundSenderAuthentication: the relay process checks DKIM, SPF and
// DMARC against the harness's DNS server, over the network, and the
// results reach the agent's inbox.
func TestInboundSenderAuthentication(t *testing.T) {
	s := startInbound(t, "auth-bot")
	to := "auth-bot@" + s.Domain
	svc := s.DNS.Sender(t, "svc.example", harness.SenderOptions{})
	strict := s.DNS.Sender(t, "strict.example", harness.SenderOptions{SPF: "v=spf1 ip4:127.0.0.9 -all"})
	cases := []struct {
		name             string
		from             string
		src              string
		sign             *harness.Sender
		dkim, spf, dmarc string
	}{
		{"signed, from its SPF's IP", svc.Address("noreply"), "127.0.0.1", svc, "pass", "pass", "pass"},
		{"unsigned, from an IP outside its SPF", strict.Address("noreply"), "127.0.0.1", nil, "none", "fail", "fail"},
		{"unsigned, from the IP its SPF names", strict.Address("noreply"), "127.0.0.9", nil, "none", "pass", "pass"},
		{"a domain the DNS does not know", "no-reply@unknown.example.com", "127.0.0.1", nil, "none", "none", "none"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subject := fmt.Sprintf("Sender auth case %d", i)
			domain := tc.from[strings.IndexByte(tc.from, '@')+1:]
			raw := []byte(strings.ReplaceAll(fmt.Sprintf("From: Service <%s>\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%d@%s>\n\nYour code is 24680%d.\n",
				tc.from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), domain, i), "\n", "\r\n"))
			if tc.sign != nil {
				raw = tc.sign.Sign(raw)
			}
			require.NoError(t, harness.SendMail(s.Relay.Addr, net.ParseIP(tc.src), "mail."+domain, tc.from, []string{to}, raw))
			st, d := s.wait("auth-bot", "timeout=20&subject="+strings.ReplaceAll(subject, " ", "+"))
			require.Equal(t, http.StatusOK, st, "%v", d)
			auth := d["auth"].(map[string]interface{})
			dkim := auth["dkim"].([]interface{})[0].(map[string]interface{})
			require.Equal(t, tc.dkim, dkim["result"], "dkim %v", dkim)
			require.Equal(t, tc.spf, auth["spf"].(map[string]interface{})["result"], "spf %v", auth["spf"])
			require.Equal(t, tc.dmarc, auth["dmarc"].(map[string]interface{})["result"], "dmarc %v", auth["dmarc"])
		})
	}
}
