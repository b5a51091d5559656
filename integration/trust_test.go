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

// trustMail is a verification mail with the given From header and a link.
func trustMail(from, to, code, link string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: %s
To: %s
Subject: Your sign-in code
Date: %s
Message-ID: <%d@mail.test>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Your verification code is <b>%s</b>.</p>
<p><a href="%s">Verify your email</a></p>
<p><a href="https://svc.example/help">Help</a></p>
`, from, to, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), code, link), "\n", "\r\n"))
}

// The trust issue's cases on the real stack — relay (sender authentication
// through the harness's DNS server) → JetStream → plugin: an agent waiting
// for svc.example's code gets the DKIM-signed mail from svc.example, and
// none of the spoofs, which trust=any returns marked unverified.
func TestWaitAnswersOnlyAnAuthenticatedSender(t *testing.T) {
	s := startInbound(t, "victim")
	to := "victim@" + s.Domain
	svc := s.DNS.Sender(t, "svc.example", harness.SenderOptions{})
	evil := s.DNS.Sender(t, "evil.test", harness.SenderOptions{SPF: "v=spf1 ip4:127.0.0.0/8 -all"})
	lookalike := s.DNS.Sender(t, "svc.example.evil.test", harness.SenderOptions{SPF: "v=spf1 ip4:127.0.0.0/8 -all"})
	send := func(src, mailFrom string, raw []byte) {
		t.Helper()
		require.NoError(t, harness.SendMail(s.Relay.Addr, net.ParseIP(src), "mx.sender.test", mailFrom, []string{to}, raw))
	}

	// 1. Display-name spoof, from the attacker's own (authenticated) domain.
	send("127.0.0.1", "attacker@evil.test", evil.Sign(trustMail(`"svc.example" <attacker@evil.test>`, to, "111111", "https://svc.example.evil.test/verify?token=a1b2c3d4e5f6")))
	// 2. A look-alike domain, itself authenticated.
	send("127.0.0.1", "noreply@svc.example.evil.test", lookalike.Sign(trustMail("SVC <noreply@svc.example.evil.test>", to, "222222", "https://svc.example.evil.test/verify?token=a1b2c3d4e5f6")))
	// 3. Unsigned, claiming svc.example, from an IP outside its SPF.
	send("127.0.0.9", "noreply@svc.example", trustMail("SVC <noreply@svc.example>", to, "333333", "https://svc.example/verify?token=a1b2c3d4e5f6"))
	// 4. Claiming svc.example, DKIM-signed by another domain.
	send("127.0.0.9", "bounce@evil.test", evil.Sign(trustMail("SVC <noreply@svc.example>", to, "444444", "https://svc.example/verify?token=a1b2c3d4e5f6")))
	require.Eventually(t, func() bool {
		return s.rec.must(s.Vault.Token, "GET", "mailgent/agents/victim", nil)["messages_total"] == float64(4)
	}, 20*time.Second, 50*time.Millisecond)

	st, d := s.wait("victim", "timeout=2&from=svc.example")
	require.Equal(t, http.StatusRequestTimeout, st, "a spoof was returned: %v", d)

	// The real one: DKIM-signed by svc.example, sent from its SPF's IP,
	// with a phishing link injected ahead of its own.
	send("127.0.0.1", "noreply@svc.example", svc.Sign(trustMail("SVC <noreply@svc.example>", to, "555555", "https://svc.example/verify?token=z9y8x7w6v5u4")))
	st, d = s.wait("victim", "timeout=20&from=svc.example")
	require.Equal(t, http.StatusOK, st, "%v", d)
	require.Equal(t, "555555", d["code"])
	require.Equal(t, "verified", d["trust"])
	require.Equal(t, "svc.example", d["sender_domain"])
	require.Contains(t, d["trust_reason"], "dmarc=pass")
	link := d["links"].([]interface{})[0].(map[string]interface{})
	require.Equal(t, "svc.example", link["host"])
	require.Equal(t, true, link["aligned"])

	// trust=any: the two that claim svc.example, marked, with the reason;
	// never the display-name spoof or the look-alike.
	reasons := map[string]string{}
	for {
		st, d := s.wait("victim", "timeout=1&from=svc.example&trust=any")
		if st == http.StatusRequestTimeout {
			break
		}
		require.Equal(t, http.StatusOK, st, "%v", d)
		require.Equal(t, "unverified", d["trust"])
		reasons[d["code"].(string)] = d["trust_reason"].(string)
	}
	require.Len(t, reasons, 2, "%v", reasons)
	require.Contains(t, reasons["333333"], "spf=fail for svc.example")
	require.Contains(t, reasons["444444"], "dkim=pass d=evil.test not aligned with svc.example")

	// The list shows every message with its verdict.
	list := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/victim/messages?trust=verified", nil)["messages"].([]interface{})
	domains := map[string]bool{}
	for _, m := range list {
		domains[m.(map[string]interface{})["sender_domain"].(string)] = true
	}
	require.Equal(t, map[string]bool{"svc.example": true, "evil.test": true, "svc.example.evil.test": true}, domains,
		"the spoofs' own domains are authenticated — as themselves, not as svc.example")
}
