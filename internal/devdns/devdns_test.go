package devdns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// resolverFor is Go's own resolver, sending every query to addr.
func resolverFor(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// query sends one raw question, to see what the wire says (RCODE, TC).
func query(t *testing.T, addr, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(m, addr)
	require.NoError(t, err)
	return resp
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func notFound(t *testing.T, err error) {
	t.Helper()
	var de *net.DNSError
	require.True(t, errors.As(err, &de), "want a *net.DNSError, got %v", err)
	require.True(t, de.IsNotFound, "IsNotFound: %v", err)
}

// longText is a TXT value longer than one 255-byte string, like a
// 2048-bit DKIM key.
var longText = "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 13)

func TestRecordsThroughGoResolver(t *testing.T) {
	s := start(t, Options{})
	require.NoError(t, s.AddZone("svc.example"))
	require.NoError(t, s.SetTXT("svc.example", "v=spf1 ip4:127.0.0.1 -all", `with "quotes" and \backslash;`))
	require.NoError(t, s.SetTXT("sel._domainkey.SVC.example.", longText))
	require.NoError(t, s.SetIP("mail.svc.example", net.ParseIP("127.0.0.2"), net.ParseIP("::1")))
	require.NoError(t, s.SetMX("svc.example", &net.MX{Host: "mail.svc.example", Pref: 10}))
	r := resolverFor(s.Addr())

	t.Run("TXT", func(t *testing.T) {
		txts, err := r.LookupTXT(ctx(t), "svc.example")
		require.NoError(t, err)
		sort.Strings(txts)
		require.Equal(t, []string{"v=spf1 ip4:127.0.0.1 -all", `with "quotes" and \backslash;`}, txts)
	})
	t.Run("TXT longer than 255 bytes is one record of several strings", func(t *testing.T) {
		require.Greater(t, len(longText), 255)
		txts, err := r.LookupTXT(ctx(t), "sel._domainkey.svc.example")
		require.NoError(t, err)
		require.Equal(t, []string{longText}, txts)
		resp := query(t, s.Addr(), "udp", "sel._domainkey.svc.example", dns.TypeTXT, 0)
		require.Len(t, resp.Answer, 1)
		require.Len(t, resp.Answer[0].(*dns.TXT).Txt, 2)
	})
	t.Run("A and AAAA", func(t *testing.T) {
		ips, err := r.LookupIPAddr(ctx(t), "mail.svc.example")
		require.NoError(t, err)
		var got []string
		for _, ip := range ips {
			got = append(got, ip.IP.String())
		}
		sort.Strings(got)
		require.Equal(t, []string{"127.0.0.2", "::1"}, got)
	})
	t.Run("MX", func(t *testing.T) {
		mxs, err := r.LookupMX(ctx(t), "svc.example")
		require.NoError(t, err)
		require.Len(t, mxs, 1)
		require.Equal(t, "mail.svc.example.", mxs[0].Host)
		require.Equal(t, uint16(10), mxs[0].Pref)
	})
	t.Run("no record of that type is not found", func(t *testing.T) {
		_, err := r.LookupTXT(ctx(t), "mail.svc.example")
		notFound(t, err)
		resp := query(t, s.Addr(), "udp", "mail.svc.example", dns.TypeTXT, 0)
		require.Equal(t, dns.RcodeSuccess, resp.Rcode)
		require.True(t, resp.Authoritative)
	})
	t.Run("empty non-terminal exists", func(t *testing.T) {
		resp := query(t, s.Addr(), "udp", "_domainkey.svc.example", dns.TypeTXT, 0)
		require.Equal(t, dns.RcodeSuccess, resp.Rcode)
		require.Empty(t, resp.Answer)
	})
}

func TestNXDOMAIN(t *testing.T) {
	s := start(t, Options{})
	require.NoError(t, s.AddZone("svc.example"))
	r := resolverFor(s.Addr())
	for _, name := range []string{"nope.svc.example", "svc.example", "example.com", "service.example.com"} {
		t.Run(name, func(t *testing.T) {
			begin := time.Now()
			_, err := r.LookupTXT(ctx(t), name)
			notFound(t, err)
			require.Less(t, time.Since(begin), time.Second, "an unknown name is answered at once")
			resp := query(t, s.Addr(), "udp", name, dns.TypeTXT, 0)
			require.Equal(t, dns.RcodeNameError, resp.Rcode)
			require.True(t, resp.Authoritative)
		})
	}
}

func TestSenderZones(t *testing.T) {
	s := start(t, Options{SenderZones: DevSenderZones()})
	require.NoError(t, s.SetTXT("sel._domainkey.keyed.test", longText))
	r := resolverFor(s.Addr())
	cases := []struct {
		name string
		want []string // nil: not found
	}{
		{"x.test", []string{LoopbackSPF}},
		{"_dmarc.x.test", []string{RejectDMARC}},
		{"signup.app.test", []string{LoopbackSPF}},
		{"_dmarc.signup.app.test", []string{RejectDMARC}},
		{"Mixed.Case.Localhost", []string{LoopbackSPF}},
		{"_dmarc.x.localhost", []string{RejectDMARC}},
		{"sel._domainkey.x.test", nil},
		{"_domainkey.x.test", nil},
		{"_dmarc._domainkey.x.test", nil},
		{"_spf.x.test", nil},
		{"test", nil},
		{"_dmarc.test", nil},
		{"x.example", nil},
		{"sel._domainkey.keyed.test", []string{longText}},
		{"keyed.test", []string{LoopbackSPF}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			txts, err := r.LookupTXT(ctx(t), tc.name)
			if tc.want == nil {
				notFound(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, txts)
		})
	}
	t.Run("other types exist but are empty", func(t *testing.T) {
		resp := query(t, s.Addr(), "udp", "x.test", dns.TypeMX, 0)
		require.Equal(t, dns.RcodeSuccess, resp.Rcode)
		require.Empty(t, resp.Answer)
	})
	t.Run("explicit records replace the rule for their name", func(t *testing.T) {
		require.NoError(t, s.SetTXT("own.test", "v=spf1 ip4:127.0.0.9 -all"))
		txts, err := r.LookupTXT(ctx(t), "own.test")
		require.NoError(t, err)
		require.Equal(t, []string{"v=spf1 ip4:127.0.0.9 -all"}, txts)
		require.NoError(t, s.SetTXT("own.test"))
		txts, err = r.LookupTXT(ctx(t), "own.test")
		require.NoError(t, err)
		require.Equal(t, []string{LoopbackSPF}, txts, "deleting them brings the rule back")
	})
}

// syncBuffer is a log destination for a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLargeAnswers(t *testing.T) {
	var log syncBuffer
	s := start(t, Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	// Six records of 300 bytes: more than 512, and more than the 1232
	// bytes Go's resolver accepts over UDP.
	var texts []string
	for i := range 6 {
		texts = append(texts, string(rune('a'+i))+strings.Repeat("x", 299))
	}
	require.NoError(t, s.SetTXT("big.example", texts...))

	t.Run("UDP without EDNS0 is truncated at 512 bytes", func(t *testing.T) {
		resp := query(t, s.Addr(), "udp", "big.example", dns.TypeTXT, 0)
		require.True(t, resp.Truncated)
		require.LessOrEqual(t, resp.Len(), dns.MinMsgSize)
	})
	t.Run("UDP with EDNS0 gets what fits its size", func(t *testing.T) {
		resp := query(t, s.Addr(), "udp", "big.example", dns.TypeTXT, 4096)
		require.False(t, resp.Truncated)
		require.Len(t, resp.Answer, 6)
		require.NotNil(t, resp.IsEdns0())
		resp = query(t, s.Addr(), "udp", "big.example", dns.TypeTXT, 1232)
		require.True(t, resp.Truncated)
	})
	t.Run("TCP gets everything", func(t *testing.T) {
		resp := query(t, s.Addr(), "tcp", "big.example", dns.TypeTXT, 0)
		require.False(t, resp.Truncated)
		require.Len(t, resp.Answer, 6)
	})
	t.Run("Go's resolver falls back to TCP", func(t *testing.T) {
		before := strings.Count(log.String(), "net=tcp")
		txts, err := resolverFor(s.Addr()).LookupTXT(ctx(t), "big.example")
		require.NoError(t, err)
		sort.Strings(txts)
		require.Equal(t, texts, txts)
		require.Greater(t, strings.Count(log.String(), "net=tcp"), before, "the answer came over TCP:\n%s", log.String())
	})
}

func TestForwarding(t *testing.T) {
	upstream := start(t, Options{})
	require.NoError(t, upstream.SetTXT("real.example", "upstream says hi"))
	require.NoError(t, upstream.SetTXT("mine.example", "upstream's version"))
	front := start(t, Options{Forward: upstream.Addr(), SenderZones: DevSenderZones()})
	require.NoError(t, front.AddZone("mine.example"))
	r := resolverFor(front.Addr())

	txts, err := r.LookupTXT(ctx(t), "real.example")
	require.NoError(t, err)
	require.Equal(t, []string{"upstream says hi"}, txts)

	_, err = r.LookupTXT(ctx(t), "gone.example")
	notFound(t, err)
	require.Equal(t, dns.RcodeNameError, query(t, front.Addr(), "udp", "gone.example", dns.TypeTXT, 0).Rcode)

	_, err = r.LookupTXT(ctx(t), "mine.example")
	notFound(t, err) // a served zone is never forwarded

	txts, err = r.LookupTXT(ctx(t), "x.test")
	require.NoError(t, err)
	require.Equal(t, []string{LoopbackSPF}, txts)
}

func TestForwardFailureIsSERVFAIL(t *testing.T) {
	// An upstream that takes queries and never answers, and one that is not
	// there at all (the kernel answers "port unreachable").
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.LocalAddr().String()
	closed.Close()

	for name, upstream := range map[string]string{"silent": silent.LocalAddr().String(), "closed": closedAddr} {
		t.Run(name, func(t *testing.T) {
			s := start(t, Options{Forward: upstream, ForwardTimeout: 200 * time.Millisecond})
			begin := time.Now()
			resp := query(t, s.Addr(), "udp", "anything.example", dns.TypeTXT, 0)
			require.Equal(t, dns.RcodeServerFailure, resp.Rcode)
			require.Less(t, time.Since(begin), 2*time.Second)

			_, err := resolverFor(s.Addr()).LookupTXT(ctx(t), "anything.example")
			var de *net.DNSError
			require.True(t, errors.As(err, &de), "%v", err)
			require.True(t, de.IsTemporary, "SERVFAIL is temporary: %v", err)
			require.False(t, de.IsNotFound)
		})
	}
}

func TestConcurrentChanges(t *testing.T) {
	s := start(t, Options{})
	r := resolverFor(s.Addr())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			name := string(rune('a'+i)) + ".example"
			for j := range 20 {
				want := strings.Repeat("v", j+1)
				if err := s.SetTXT(name, want); err != nil {
					t.Error(err)
					return
				}
				got, err := r.LookupTXT(context.Background(), name)
				if err != nil || len(got) != 1 || got[0] != want {
					t.Errorf("%s: got %v, %v; want %q", name, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBadInput(t *testing.T) {
	s := start(t, Options{})
	cases := []struct {
		name string
		err  error
	}{
		{"empty TXT name", s.SetTXT("", "x")},
		{"bad TXT name", s.SetTXT("a..b", "x")},
		{"empty zone", s.AddZone(" ")},
		{"bad IP", s.SetIP("x.example", net.IP{1, 2, 3})},
		{"bad MX host", s.SetMX("x.example", &net.MX{Host: "", Pref: 1})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { require.Error(t, tc.err) })
	}
	_, err := Start(Options{Forward: "nope"})
	require.ErrorContains(t, err, "forward")
	_, err = Start(Options{SenderZones: []SenderZone{{Zone: "a..b"}}})
	require.ErrorContains(t, err, "sender zone")
}

func TestCloseFreesTheAddress(t *testing.T) {
	s, err := Start(Options{})
	require.NoError(t, err)
	addr := s.Addr()
	require.NoError(t, s.Close())
	// Both sockets are released: a new server can bind the same port.
	again, err := Start(Options{Addr: addr})
	require.NoError(t, err)
	require.Equal(t, addr, again.Addr())
	require.NoError(t, again.Close())
}

func TestParseForward(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	require.NoError(t, os.WriteFile(conf, []byte("search lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), 0o600))
	empty := filepath.Join(dir, "empty.conf")
	require.NoError(t, os.WriteFile(empty, []byte("search lan\n"), 0o600))
	cases := []struct {
		value, conf, want, err string
	}{
		{"none", conf, "", ""},
		{"", conf, "", ""},
		{"system", conf, "192.0.2.53:53", ""},
		{"system", empty, "", "no nameserver"},
		{"system", filepath.Join(dir, "missing"), "", "system resolver"},
		{"127.0.0.1:5353", conf, "127.0.0.1:5353", ""},
		{"[::1]:53", conf, "[::1]:53", ""},
		{"127.0.0.1", conf, "", "host:port"},
		{"127.0.0.1:0", conf, "", "invalid port"},
		{":53", conf, "", "no valid host"},
	}
	for _, tc := range cases {
		t.Run(tc.value+"@"+filepath.Base(tc.conf), func(t *testing.T) {
			got, err := ParseForward(tc.value, tc.conf)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(conf, []byte("nameserver 192.0.2.53\n"), 0o600))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cfg, err := ParseFlags(nil, env(nil), conf, io.Discard)
	require.NoError(t, err)
	require.Equal(t, Config{Listen: "127.0.0.1:5354", Forward: "192.0.2.53:53"}, cfg)

	cfg, err = ParseFlags([]string{"-forward", "none"}, env(map[string]string{"MAILGENT_DNS_LISTEN": "127.0.0.1:1053", "MAILGENT_DNS_FORWARD": "system"}), conf, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1053", cfg.Listen)
	require.Empty(t, cfg.Forward, "a flag wins over the environment")

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad listen", []string{"-listen", "nope"}, "-listen"},
		{"listen on a name", []string{"-listen", "localhost:53"}, "-listen"},
		{"listen port out of range", []string{"-listen", "127.0.0.1:70000"}, "-listen"},
		{"bad forward", []string{"-forward", "upstream"}, "-forward"},
		{"bad log level", []string{"-log-level", "loud"}, "-log-level"},
		{"stray argument", []string{"extra"}, "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlags(tc.args, env(nil), conf, io.Discard)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
