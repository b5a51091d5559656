package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/devcerts"
	"github.com/mailgent/mailgent/internal/devdns"
)

// env is a getenv over m; MAILGENT_RELAY_KEY_FILE, which every relay
// needs, defaults to a path (ParseFlags only checks that it is set).
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "MAILGENT_RELAY_KEY_FILE" {
			return v
		}
		return "/run/mailgent/relay.key"
	}
}

func TestParseFlagsEnvThenFlags(t *testing.T) {
	cfg, err := ParseFlags(
		[]string{"-max-recipients", "7", "-read-timeout", "5s"},
		env(map[string]string{
			"MAILGENT_DOMAIN":                  "Agents.Example.com",
			"MAILGENT_NATS_URL":                "nats://10.0.0.1:4222",
			"MAILGENT_NATS_ALLOW_PLAINTEXT":    "true",
			"MAILGENT_NATS_PASSWORD":           "pw",
			"MAILGENT_RELAY_MAX_RECIPIENTS":    "3",
			"MAILGENT_RELAY_MAX_MESSAGE_BYTES": "2048",
		}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "agents.example.com", cfg.Domain)
	require.Equal(t, "nats://10.0.0.1:4222", cfg.NATS.URL)
	require.Equal(t, "pw", cfg.NATS.Password)
	require.Equal(t, 7, cfg.MaxRecipients, "a flag wins over the environment")
	require.Equal(t, int64(2048), cfg.MaxMessageBytes)
	require.Equal(t, 5*time.Second, cfg.ReadTimeout)
	require.Equal(t, DefaultConfig().MaxLineLength, cfg.MaxLineLength)
}

func TestParseFlagsErrorsNameTheSetting(t *testing.T) {
	base := []string{"-domain", "agents.example.com"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no domain", nil, nil, "-domain"},
		{"bad domain", []string{"-domain", "localhost"}, nil, "-domain"},
		{"bad nats url", append(base, "-nats-url", "http://x:1"), nil, "-nats-url"},
		{"tiny size", append(base, "-max-message-bytes", "10"), nil, "-max-message-bytes"},
		{"negative recipients", append(base, "-max-recipients", "-1"), nil, "-max-recipients"},
		{"short lines", append(base, "-max-line-length", "80"), nil, "-max-line-length"},
		{"zero timeout", append(base, "-read-timeout", "0s"), nil, "-read-timeout"},
		{"zero sessions", append(base, "-max-sessions-per-ip", "0"), nil, "-max-sessions-per-ip"},
		{"half tls", append(base, "-tls-cert", "c.pem"), nil, "-tls-key"},
		{"bad listen", append(base, "-listen", "nope"), nil, "-listen"},
		{"bad log level", append(base, "-log-level", "loud"), nil, "-log-level"},
		{"bad log format", append(base, "-log-format", "xml"), nil, "-log-format"},
		{"bad env int", base, map[string]string{"MAILGENT_RELAY_MAX_RECIPIENTS": "ten"}, "MAILGENT_RELAY_MAX_RECIPIENTS"},
		{"bad env duration", base, map[string]string{"MAILGENT_RELAY_READ_TIMEOUT": "soon"}, "MAILGENT_RELAY_READ_TIMEOUT"},
		{"stray argument", append(base, "extra"), nil, "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlags(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseFlagsVersion(t *testing.T) {
	_, err := ParseFlags([]string{"-version"}, env(nil), io.Discard)
	require.True(t, errors.Is(err, ErrVersion))
}

func TestParseFlagsResolver(t *testing.T) {
	base := []string{"-domain", "agents.example.com"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // the Resolver, or the error's text after "err:"
	}{
		{"default is the system resolver", base, nil, ""},
		{"flag", append(base, "-resolver", "127.0.0.1:5354"), nil, "127.0.0.1:5354"},
		{"IPv6", append(base, "-resolver", "[::1]:53"), nil, "[::1]:53"},
		{"env", base, map[string]string{"MAILGENT_RELAY_RESOLVER": "127.0.0.1:53"}, "127.0.0.1:53"},
		{"flag wins", append(base, "-resolver", "127.0.0.1:1053"), map[string]string{"MAILGENT_RELAY_RESOLVER": "127.0.0.1:53"}, "127.0.0.1:1053"},
		{"no port", append(base, "-resolver", "127.0.0.1"), nil, "err:-resolver: \"127.0.0.1\" is not host:port"},
		{"port zero", append(base, "-resolver", "127.0.0.1:0"), nil, "err:-resolver: \"127.0.0.1:0\" has an invalid port"},
		{"port too large", append(base, "-resolver", "127.0.0.1:65536"), nil, "err:-resolver: \"127.0.0.1:65536\" has an invalid port"},
		{"named port", append(base, "-resolver", "127.0.0.1:domain"), nil, "err:-resolver: \"127.0.0.1:domain\" has an invalid port"},
		{"no host", append(base, "-resolver", ":53"), nil, "err:-resolver: \":53\" has no valid host"},
		{"bad env", base, map[string]string{"MAILGENT_RELAY_RESOLVER": "dns.example"}, "err:-resolver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseFlags(tc.args, env(tc.env), io.Discard)
			if msg, ok := strings.CutPrefix(tc.want, "err:"); ok {
				require.ErrorContains(t, err, msg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, cfg.Resolver)
		})
	}
}

// TestResolverAsksThatServer checks sender authentication end to end
// against a real DNS server on loopback: the relay's lookups go to
// -resolver, over UDP and, for a large answer, TCP.
func TestResolverAsksThatServer(t *testing.T) {
	dnsSrv, err := devdns.Start(devdns.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dnsSrv.Close() })
	require.NoError(t, dnsSrv.SetTXT("svc.example", "v=spf1 ip4:127.0.0.1 -all"))
	require.NoError(t, dnsSrv.SetTXT("_dmarc.svc.example", "v=DMARC1; p=reject"))
	big := make([]string, 8) // 8 x 300 bytes: truncated over UDP
	for i := range big {
		big[i] = fmt.Sprintf("%d%s", i, strings.Repeat("x", 299))
	}
	require.NoError(t, dnsSrv.SetTXT("big.svc.example", big...))

	cfg, err := ParseFlags([]string{"-domain", "agents.example.com", "-resolver", dnsSrv.Addr()}, env(nil), io.Discard)
	require.NoError(t, err)
	cfg.KeyFile = testKeyFile(t)
	srv, err := New(cfg, nil)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	txts, err := srv.resolver.LookupTXT(ctx, "big.svc.example")
	require.NoError(t, err)
	require.Len(t, txts, len(big))

	raw := []byte("From: <noreply@svc.example>\r\nTo: <bot@agents.example.com>\r\nSubject: hi\r\n\r\nhello\r\n")
	res := srv.verifySender(raw, "noreply@svc.example", "mail.svc.example", "127.0.0.1:40000", "svc.example")
	require.Equal(t, "pass", res.SPF.Result, "%+v", res.SPF)
	require.Equal(t, "pass", res.DMARC.Result, "%+v", res.DMARC)
	res = srv.verifySender(raw, "noreply@svc.example", "mail.svc.example", "127.0.0.9:40000", "svc.example")
	require.Equal(t, "fail", res.SPF.Result, "%+v", res.SPF)
	require.Equal(t, "fail", res.DMARC.Result, "%+v", res.DMARC)

	// Without -resolver and without a cache the checks ask the servers of
	// /etc/resolv.conf through Go's resolver.
	cfg.Resolver, cfg.DNSCacheEntries = "", 0
	srv, err = New(cfg, nil)
	require.NoError(t, err)
	r, ok := srv.resolver.(*net.Resolver)
	require.True(t, ok)
	require.True(t, r.PreferGo)
	require.Nil(t, r.Dial, "the system's servers")
}

func TestDNSCacheFlags(t *testing.T) {
	base := []string{"-domain", "agents.example.com"}
	cfg, err := ParseFlags(base, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 10_000, cfg.DNSCacheEntries)
	require.Equal(t, 5*time.Minute, cfg.DNSCacheMaxTTL)
	cfg, err = ParseFlags(append(base, "-dns-cache-entries", "0", "-dns-cache-max-ttl", "0s"), env(nil), io.Discard)
	require.NoError(t, err, "no cache: the cap does not matter")
	require.Zero(t, cfg.DNSCacheEntries)
	_, err = ParseFlags(append(base, "-dns-cache-entries", "-1"), env(nil), io.Discard)
	require.ErrorContains(t, err, "-dns-cache-entries")
	_, err = ParseFlags(append(base, "-dns-cache-max-ttl", "48h"), env(nil), io.Discard)
	require.ErrorContains(t, err, "-dns-cache-max-ttl")
	cfg, err = ParseFlags(base, env(map[string]string{"MAILGENT_RELAY_DNS_CACHE_MAX_TTL": "30s"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, cfg.DNSCacheMaxTTL)
}

func TestNATSTransportFlags(t *testing.T) {
	base := []string{"-domain", "agents.example.com"}
	_, err := ParseFlags(append(base, "-nats-url", "nats://nats.internal:4222"), env(nil), io.Discard)
	require.ErrorContains(t, err, "-nats-url")
	require.ErrorContains(t, err, "plain text")
	_, err = ParseFlags(append(base, "-nats-url", "nats://nats.internal:4222", "-nats-allow-plaintext"), env(nil), io.Discard)
	require.NoError(t, err)
	_, err = ParseFlags(append(base, "-nats-url", "tls://nats.internal:4222"), env(nil), io.Discard)
	require.NoError(t, err, "tls:// verifies against the system's roots")
	_, err = ParseFlags(append(base, "-nats-url", "nats://nats.internal:4222", "-nats-ca-file", "/nonexistent/ca.pem"), env(nil), io.Discard)
	require.ErrorContains(t, err, "-nats-ca-file")
	ca, err := devcerts.Generate(t.TempDir(), []string{"nats.internal"}, time.Hour)
	require.NoError(t, err)
	cfg, err := ParseFlags(append(base, "-nats-url", "nats://nats.internal:4222", "-nats-ca-file", ca.CA), env(nil), io.Discard)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.NATS.CACert)
	_, err = ParseFlags(append(base, "-nats-url", "nats://nats.internal:4222", "-nats-ca-file", ca.Key), env(nil), io.Discard)
	require.ErrorContains(t, err, "-nats-ca-file")
}

func TestParseFlagsSmarthost(t *testing.T) {
	cfg, err := ParseFlags([]string{"-domain", "agents.example.com"}, env(nil), io.Discard)
	require.NoError(t, err)
	require.Empty(t, cfg.Smarthost, "outbound delivery is off by default")
	require.Equal(t, "starttls", cfg.SmarthostTLS)
	require.Equal(t, "plain", cfg.SmarthostAuth)
	require.Equal(t, 30*time.Second, cfg.SmarthostTimeout)
	require.False(t, cfg.SmarthostInsecureSkipVerify)

	cfg, err = ParseFlags(
		[]string{"-domain", "agents.example.com", "-smarthost-tls", "tls", "-smarthost-auth", "login", "-smarthost-timeout", "5s"},
		env(map[string]string{
			"MAILGENT_RELAY_SMARTHOST":                      "smtp.example.net:465",
			"MAILGENT_RELAY_SMARTHOST_USER":                 "relay",
			"MAILGENT_RELAY_SMARTHOST_PASSWORD":             "s3cret",
			"MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY": "true",
		}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "smtp.example.net:465", cfg.Smarthost)
	require.Equal(t, "tls", cfg.SmarthostTLS)
	require.Equal(t, "relay", cfg.SmarthostUser)
	require.Equal(t, "s3cret", cfg.SmarthostPassword)
	require.Equal(t, "login", cfg.SmarthostAuth)
	require.True(t, cfg.SmarthostInsecureSkipVerify)
	require.Equal(t, 5*time.Second, cfg.SmarthostTimeout)

	// The password is never a flag: flags show in ps.
	_, err = ParseFlags([]string{"-domain", "agents.example.com", "-smarthost-password", "x"}, env(nil), io.Discard)
	require.Error(t, err)
}

func TestParseFlagsSmarthostErrorsNameTheSetting(t *testing.T) {
	base := []string{"-domain", "agents.example.com", "-smarthost", "127.0.0.1:25"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no port", []string{"-domain", "agents.example.com", "-smarthost", "smtp.example.net"}, nil, "-smarthost:"},
		{"bad port", []string{"-domain", "agents.example.com", "-smarthost", "smtp.example.net:99999"}, nil, "-smarthost:"},
		{"no host", []string{"-domain", "agents.example.com", "-smarthost", ":25"}, nil, "-smarthost:"},
		{"bad tls", append(base, "-smarthost-tls", "ssl"), nil, "-smarthost-tls"},
		{"bad tls without smarthost", []string{"-domain", "agents.example.com", "-smarthost-tls", "yes"}, nil, "-smarthost-tls"},
		{"bad auth", append(base, "-smarthost-auth", "cram-md5"), nil, "-smarthost-auth"},
		{"zero timeout", append(base, "-smarthost-timeout", "0s"), nil, "-smarthost-timeout"},
		{"user without password", append(base, "-smarthost-user", "relay"), nil, "-smarthost-user"},
		{"password without user", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_PASSWORD": "pw"}, "-smarthost-user"},
		{"bad env bool", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY": "sure"}, "MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY"},
		{"bad env duration", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_TIMEOUT": "soon"}, "MAILGENT_RELAY_SMARTHOST_TIMEOUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlags(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
