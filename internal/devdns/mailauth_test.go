package devdns

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailauth"
)

// TestMailauthThroughRealDNS runs the relay's sender authentication against
// this server over the wire, with Go's resolver, as the relay does.
func TestMailauthThroughRealDNS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	s := start(t, Options{})
	require.NoError(t, s.AddZone("svc.example"))
	require.NoError(t, s.SetDKIMKey("svc.example", "mail2026", key.Public()))
	require.NoError(t, s.SetTXT("svc.example", "v=spf1 ip4:127.0.0.1 -all"))
	require.NoError(t, s.SetTXT("_dmarc.svc.example", RejectDMARC))
	r := resolverFor(s.Addr())

	raw := []byte(strings.ReplaceAll(`From: Service <noreply@svc.example>
To: bot@agents.mailgent.test
Subject: Your code
Date: Mon, 30 Nov 2026 10:00:00 +0000
Message-ID: <1@svc.example>

Your code is 123456.
`, "\n", "\r\n"))
	var signed bytes.Buffer
	require.NoError(t, dkim.Sign(&signed, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: "svc.example", Selector: "mail2026", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	}))

	cases := []struct {
		name             string
		raw              []byte
		ip               string
		dkim, spf, dmarc string
	}{
		{"signed, from an authorised IP", signed.Bytes(), "127.0.0.1", "pass", "pass", "pass"},
		{"unsigned, from an IP outside its SPF", raw, "127.0.0.9", "none", "fail", "fail"},
		// DMARC passes on either aligned check: the signature alone carries it.
		{"signed, from an IP outside its SPF", signed.Bytes(), "127.0.0.9", "pass", "fail", "pass"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mailauth.Verify(ctx(t), r, mailauth.Input{
				Raw: tc.raw, MailFrom: "noreply@svc.example", Helo: "mail.svc.example",
				RemoteIP: net.ParseIP(tc.ip), FromDomain: "svc.example",
			})
			require.Len(t, res.DKIM, 1)
			require.Equal(t, tc.dkim, res.DKIM[0].Result, "dkim: %+v", res.DKIM[0])
			require.Equal(t, tc.spf, res.SPF.Result, "spf: %+v", res.SPF)
			require.Equal(t, tc.dmarc, res.DMARC.Result, "dmarc: %+v", res.DMARC)
			require.Equal(t, "reject", res.DMARC.Policy)
		})
	}
}
