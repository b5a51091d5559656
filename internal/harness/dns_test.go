package harness

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailauth"
)

func TestSenderIsVerifiedThroughTheTestDNS(t *testing.T) {
	d := StartDNS(t)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.Addr)
	}}
	msg := func(s *Sender) []byte {
		// LF line endings on purpose: Sign makes them CRLF.
		return []byte("From: Service <" + s.Address("noreply") + ">\nTo: bot@agents.mailgent.test\n" +
			"Subject: Your code\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nMessage-ID: <1@" + s.Domain + ">\n\nYour code is 123456.\n")
	}
	cases := []struct {
		name             string
		opts             SenderOptions
		ip               string
		sign             bool
		dkim, spf, dmarc string
	}{
		{"defaults", SenderOptions{}, "127.0.0.1", true, "pass", "pass", "pass"},
		{"unsigned", SenderOptions{}, "127.0.0.1", false, "none", "pass", "pass"},
		{"IP outside its SPF, unsigned", SenderOptions{SPF: "v=spf1 ip4:127.0.0.9 -all"}, "127.0.0.1", false, "none", "fail", "fail"},
		{"from the SPF's other IP", SenderOptions{SPF: "v=spf1 ip4:127.0.0.9 -all"}, "127.0.0.9", false, "none", "pass", "pass"},
		{"no DMARC record", SenderOptions{NoDMARC: true}, "127.0.0.1", true, "pass", "pass", "none"},
		{"no SPF record", SenderOptions{NoSPF: true, Selector: "s2"}, "127.0.0.1", true, "pass", "none", "pass"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := d.Sender(t, fmt.Sprintf("sender%d.example", i), tc.opts)
			raw := msg(s)
			if tc.sign {
				raw = s.Sign(raw)
				require.Contains(t, string(raw), "\r\nTo: bot@agents.mailgent.test\r\n")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := mailauth.Verify(ctx, r, mailauth.Input{
				Raw: raw, MailFrom: s.Address("noreply"), Helo: "mail." + s.Domain,
				RemoteIP: net.ParseIP(tc.ip), FromDomain: s.Domain,
			})
			require.Equal(t, tc.dkim, res.DKIM[0].Result, "%+v", res.DKIM)
			require.Equal(t, tc.spf, res.SPF.Result, "%+v", res.SPF)
			require.Equal(t, tc.dmarc, res.DMARC.Result, "%+v", res.DMARC)
		})
	}
}

func TestSendMailFromAnotherLoopbackAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	remote := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			remote <- err.Error()
			return
		}
		remote <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close() // no greeting: SendMail fails, which is fine here
	}()
	err = SendMail(l.Addr().String(), net.ParseIP("127.0.0.9"), "x.example", "a@x.example", []string{"b@y.example"}, []byte("x"))
	require.Error(t, err)
	require.Equal(t, "127.0.0.9", <-remote)
}
