package mailauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// fakeDNS is an in-process Resolver.
type fakeDNS struct {
	txt  map[string][]string
	ips  map[string][]string
	mx   map[string][]string
	fail map[string]bool // names whose lookups fail temporarily (SERVFAIL)

	hang    bool          // block until the context is done, then return ctx.Err()
	block   chan struct{} // if set, block until closed, ignoring the context
	panics  bool
	queries atomic.Int64
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{
		txt:  map[string][]string{},
		ips:  map[string][]string{},
		mx:   map[string][]string{},
		fail: map[string]bool{},
	}
}

func (f *fakeDNS) start(ctx context.Context, name string) (string, error) {
	f.queries.Add(1)
	if f.panics {
		panic("fake resolver panic")
	}
	if f.block != nil {
		<-f.block
	}
	if f.hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if f.fail[name] {
		return "", &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return name, nil
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name, err := f.start(ctx, name)
	if err != nil {
		return nil, err
	}
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, notFound(name)
}

func (f *fakeDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	host, err := f.start(ctx, host)
	if err != nil {
		return nil, err
	}
	v, ok := f.ips[host]
	if !ok {
		return nil, notFound(host)
	}
	var out []net.IPAddr
	for _, s := range v {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func (f *fakeDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name, err := f.start(ctx, name)
	if err != nil {
		return nil, err
	}
	v, ok := f.mx[name]
	if !ok {
		return nil, notFound(name)
	}
	var out []*net.MX
	for i, h := range v {
		out = append(out, &net.MX{Host: h + ".", Pref: uint16(10 * (i + 1))})
	}
	return out, nil
}

// keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	edKey    ed25519.PrivateKey
	rsaKey   *rsa.PrivateKey
)

func testKeys(t *testing.T) (ed25519.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		_, edKey, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return edKey, rsaKey
}

// dkimRecord returns the DKIM key TXT record for signer.
func dkimRecord(t *testing.T, signer crypto.Signer) string {
	t.Helper()
	switch pub := signer.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	default:
		t.Fatalf("unexpected key type %T", pub)
		return ""
	}
}

func testMessage(from string) []byte {
	return []byte("From: Alice <" + from + ">\r\n" +
		"To: agent@agents.example.net\r\n" +
		"Subject: Your verification code\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <1234@example.com>\r\n" +
		"\r\n" +
		"Your code is 739142.\r\n" +
		"It expires in 10 minutes.\r\n")
}

// sign prepends a DKIM-Signature by (domain, selector, signer) to msg.
func sign(t *testing.T, msg []byte, domain, selector string, signer crypto.Signer) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := dkim.Sign(&buf, bytes.NewReader(msg), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	})
	require.NoError(t, err)
	return buf.Bytes()
}

func publishKey(t *testing.T, dns *fakeDNS, domain, selector string, signer crypto.Signer) {
	dns.txt[selector+"._domainkey."+domain] = []string{dkimRecord(t, signer)}
}

func TestDKIM(t *testing.T) {
	ed, rsaK := testKeys(t)
	msg := testMessage("alice@example.com")

	tests := []struct {
		name  string
		raw   func(t *testing.T) []byte
		setup func(t *testing.T, dns *fakeDNS)
		want  []mailmsg.DKIMResult
		// errContains is checked against each result's Error.
		errContains string
	}{
		{
			name:  "ed25519 pass",
			raw:   func(t *testing.T) []byte { return sign(t, msg, "example.com", "ed", ed) },
			setup: func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "ed", ed) },
			want:  []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "pass"}},
		},
		{
			name:  "rsa pass",
			raw:   func(t *testing.T) []byte { return sign(t, msg, "example.com", "rsa2048", rsaK) },
			setup: func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "rsa2048", rsaK) },
			want:  []mailmsg.DKIMResult{{Domain: "example.com", Selector: "rsa2048", Result: "pass"}},
		},
		{
			name: "two signatures in header order",
			raw: func(t *testing.T) []byte {
				return sign(t, sign(t, msg, "example.com", "rsa2048", rsaK), "esp.example.org", "ed", ed)
			},
			setup: func(t *testing.T, dns *fakeDNS) {
				publishKey(t, dns, "example.com", "rsa2048", rsaK)
				publishKey(t, dns, "esp.example.org", "ed", ed)
			},
			want: []mailmsg.DKIMResult{
				{Domain: "esp.example.org", Selector: "ed", Result: "pass"},
				{Domain: "example.com", Selector: "rsa2048", Result: "pass"},
			},
		},
		{
			name: "tampered body fails",
			raw: func(t *testing.T) []byte {
				signed := sign(t, msg, "example.com", "ed", ed)
				return bytes.Replace(signed, []byte("739142"), []byte("000000"), 1)
			},
			setup:       func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "ed", ed) },
			want:        []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "fail"}},
			errContains: "body hash",
		},
		{
			name: "tampered signed header fails",
			raw: func(t *testing.T) []byte {
				signed := sign(t, msg, "example.com", "rsa2048", rsaK)
				return bytes.Replace(signed, []byte("Subject: Your"), []byte("Subject: My"), 1)
			},
			setup: func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "rsa2048", rsaK) },
			want:  []mailmsg.DKIMResult{{Domain: "example.com", Selector: "rsa2048", Result: "fail"}},
		},
		{
			name:        "unknown selector is permerror",
			raw:         func(t *testing.T) []byte { return sign(t, msg, "example.com", "gone", ed) },
			setup:       func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "ed", ed) },
			want:        []mailmsg.DKIMResult{{Domain: "example.com", Selector: "gone", Result: "permerror"}},
			errContains: "no key",
		},
		{
			name: "key lookup failing temporarily is temperror",
			raw:  func(t *testing.T) []byte { return sign(t, msg, "example.com", "ed", ed) },
			setup: func(t *testing.T, dns *fakeDNS) {
				publishKey(t, dns, "example.com", "ed", ed)
				dns.fail["ed._domainkey.example.com"] = true
			},
			want: []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "temperror"}},
		},
		{
			name: "revoked key is permerror",
			raw:  func(t *testing.T) []byte { return sign(t, msg, "example.com", "ed", ed) },
			setup: func(t *testing.T, dns *fakeDNS) {
				dns.txt["ed._domainkey.example.com"] = []string{"v=DKIM1; k=ed25519; p="}
			},
			want: []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "permerror"}},
		},
		{
			name: "wrong key fails",
			raw:  func(t *testing.T) []byte { return sign(t, msg, "example.com", "ed", ed) },
			setup: func(t *testing.T, dns *fakeDNS) {
				_, other, err := ed25519.GenerateKey(rand.Reader)
				require.NoError(t, err)
				publishKey(t, dns, "example.com", "ed", other)
			},
			want: []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "fail"}},
		},
		{
			name:  "no signature is a single none",
			raw:   func(t *testing.T) []byte { return msg },
			setup: func(t *testing.T, dns *fakeDNS) {},
			want:  []mailmsg.DKIMResult{{Result: "none"}},
		},
		{
			name:  "empty message is a single none",
			raw:   func(t *testing.T) []byte { return nil },
			setup: func(t *testing.T, dns *fakeDNS) {},
			want:  []mailmsg.DKIMResult{{Result: "none"}},
		},
		{
			name: "malformed signature is permerror",
			raw: func(t *testing.T) []byte {
				return append([]byte("DKIM-Signature: v=1; d=example.com; s=ed; garbage\r\n"), msg...)
			},
			setup: func(t *testing.T, dns *fakeDNS) { publishKey(t, dns, "example.com", "ed", ed) },
			want:  []mailmsg.DKIMResult{{Domain: "example.com", Selector: "ed", Result: "permerror"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dns := newFakeDNS()
			tc.setup(t, dns)
			got := Verify(context.Background(), dns, Input{
				Raw:        tc.raw(t),
				MailFrom:   "alice@example.com",
				Helo:       "mail.example.com",
				RemoteIP:   net.ParseIP("192.0.2.10"),
				FromDomain: "example.com",
			})
			require.Len(t, got.DKIM, len(tc.want))
			for i := range tc.want {
				require.Equal(t, tc.want[i].Domain, got.DKIM[i].Domain, "result %d", i)
				require.Equal(t, tc.want[i].Selector, got.DKIM[i].Selector, "result %d", i)
				require.Equal(t, tc.want[i].Result, got.DKIM[i].Result, "result %d: %s", i, got.DKIM[i].Error)
				if tc.want[i].Result == "pass" || tc.want[i].Result == "none" {
					require.Empty(t, got.DKIM[i].Error)
				} else {
					require.NotEmpty(t, got.DKIM[i].Error)
				}
				if tc.errContains != "" {
					require.Contains(t, got.DKIM[i].Error, tc.errContains)
				}
			}
		})
	}
}

func TestDKIMSignatureCap(t *testing.T) {
	ed, _ := testKeys(t)
	dns := newFakeDNS()
	raw := testMessage("alice@example.com")
	for i := 0; i < MaxDKIMSignatures+3; i++ {
		sel := fmt.Sprintf("s%d", i)
		publishKey(t, dns, "example.com", sel, ed)
		raw = sign(t, raw, "example.com", sel, ed)
	}
	got := Verify(context.Background(), dns, Input{Raw: raw, RemoteIP: net.ParseIP("192.0.2.10"), FromDomain: "example.com"})
	require.Len(t, got.DKIM, MaxDKIMSignatures)
	for _, d := range got.DKIM {
		require.Equal(t, "pass", d.Result, d.Error)
	}
	require.Equal(t, "none", got.DMARC.Result)
}

func TestSPF(t *testing.T) {
	tests := []struct {
		name     string
		mailFrom string
		helo     string
		ip       string
		txt      map[string][]string
		ips      map[string][]string
		mx       map[string][]string
		fail     []string
		want     string
		domain   string
		errWant  bool
	}{
		{
			name: "ip4 pass",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:192.0.2.0/24 -all"}},
			want: "pass",
		},
		{
			name: "ip6 pass",
			ip:   "2001:db8::25",
			txt:  map[string][]string{"example.com": {"v=spf1 ip6:2001:db8::/32 -all"}},
			want: "pass",
		},
		{
			name: "fail",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:198.51.100.1 -all"}},
			want: "fail",
		},
		{
			name: "softfail",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:198.51.100.1 ~all"}},
			want: "softfail",
		},
		{
			name: "neutral",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:198.51.100.1 ?all"}},
			want: "neutral",
		},
		{
			name: "no all is neutral",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:198.51.100.1"}},
			want: "neutral",
		},
		{
			name: "none without a record",
			txt:  map[string][]string{"example.com": {"google-site-verification=abc"}},
			want: "none",
		},
		{
			name: "none for a nonexistent domain",
			want: "none",
		},
		{
			name: "a mechanism",
			txt:  map[string][]string{"example.com": {"v=spf1 a -all"}},
			ips:  map[string][]string{"example.com": {"192.0.2.10"}},
			want: "pass",
		},
		{
			name: "mx mechanism",
			txt:  map[string][]string{"example.com": {"v=spf1 mx -all"}},
			mx:   map[string][]string{"example.com": {"mx1.example.com", "mx2.example.com"}},
			ips:  map[string][]string{"mx1.example.com": {"198.51.100.7"}, "mx2.example.com": {"192.0.2.10"}},
			want: "pass",
		},
		{
			name: "include pass",
			txt: map[string][]string{
				"example.com":      {"v=spf1 include:_spf.esp.example -all"},
				"_spf.esp.example": {"v=spf1 ip4:192.0.2.10 -all"},
			},
			want: "pass",
		},
		{
			name: "include not matching falls through to -all",
			txt: map[string][]string{
				"example.com":      {"v=spf1 include:_spf.esp.example -all"},
				"_spf.esp.example": {"v=spf1 ip4:203.0.113.1 -all"},
			},
			want: "fail",
		},
		{
			name: "include of a domain without a record is permerror",
			txt:  map[string][]string{"example.com": {"v=spf1 include:_spf.gone.example -all"}},
			want: "permerror", errWant: true,
		},
		{
			name: "redirect",
			txt: map[string][]string{
				"example.com":      {"v=spf1 redirect=_spf.example.org"},
				"_spf.example.org": {"v=spf1 ip4:192.0.2.0/28 ~all"},
			},
			want: "pass",
		},
		{
			name: "redirect to a failing record",
			txt: map[string][]string{
				"example.com":      {"v=spf1 redirect=_spf.example.org"},
				"_spf.example.org": {"v=spf1 ip4:203.0.113.0/24 ~all"},
			},
			want: "softfail",
		},
		{
			name: "too many lookups is permerror",
			txt: map[string][]string{"example.com": {"v=spf1 a:h1.example.com a:h2.example.com a:h3.example.com " +
				"a:h4.example.com a:h5.example.com a:h6.example.com a:h7.example.com a:h8.example.com " +
				"a:h9.example.com a:h10.example.com a:h11.example.com -all"}},
			ips: func() map[string][]string {
				m := map[string][]string{}
				for i := 1; i <= 11; i++ {
					m[fmt.Sprintf("h%d.example.com", i)] = []string{"203.0.113.1"}
				}
				m["h11.example.com"] = []string{"192.0.2.10"}
				return m
			}(),
			want: "permerror", errWant: true,
		},
		{
			name: "include loop hits the lookup limit",
			txt: map[string][]string{
				"example.com":  {"v=spf1 include:loop.example -all"},
				"loop.example": {"v=spf1 include:example.com -all"},
			},
			want: "permerror", errWant: true,
		},
		{
			name: "too many void lookups is permerror",
			txt: map[string][]string{"example.com": {"v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com " +
				"ip4:192.0.2.10 -all"}},
			want: "permerror", errWant: true,
		},
		{
			name: "unknown mechanism is permerror",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:192.0.2.10 bogus -all"}},
			want: "permerror", errWant: true,
		},
		{
			name: "syntax error in an included record is permerror",
			txt: map[string][]string{
				"example.com":      {"v=spf1 include:_spf.esp.example -all"},
				"_spf.esp.example": {"v=spf1 ip4:192.0.2.10 ip5:192.0.2.0/24 -all"},
			},
			want: "permerror", errWant: true,
		},
		{
			name: "bad ip4 is permerror",
			txt:  map[string][]string{"example.com": {"v=spf1 ip4:999.0.2.10 -all"}},
			want: "permerror", errWant: true,
		},
		{
			name: "two records is permerror",
			txt:  map[string][]string{"example.com": {"v=spf1 -all", "v=spf1 +all"}},
			want: "permerror", errWant: true,
		},
		{
			name: "temporary DNS failure is temperror",
			fail: []string{"example.com"},
			want: "temperror", errWant: true,
		},
		{
			name:     "null sender checks HELO",
			mailFrom: "-",
			helo:     "out.example.net",
			txt:      map[string][]string{"out.example.net": {"v=spf1 ip4:192.0.2.10 -all"}},
			want:     "pass", domain: "out.example.net",
		},
		{
			name:     "null sender with address literal HELO is none",
			mailFrom: "-",
			helo:     "[192.0.2.10]",
			want:     "none", domain: "[192.0.2.10]", errWant: true,
		},
		{
			name:     "mail from domain is lower-cased",
			mailFrom: "Bounce@Example.COM",
			txt:      map[string][]string{"example.com": {"v=spf1 ip4:192.0.2.10 -all"}},
			want:     "pass",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dns := newFakeDNS()
			for k, v := range tc.txt {
				dns.txt[k] = v
			}
			for k, v := range tc.ips {
				dns.ips[k] = v
			}
			for k, v := range tc.mx {
				dns.mx[k] = v
			}
			for _, k := range tc.fail {
				dns.fail[k] = true
			}
			in := Input{
				Raw:        testMessage("alice@example.com"),
				MailFrom:   "bounce@example.com",
				Helo:       "mail.example.com",
				RemoteIP:   net.ParseIP("192.0.2.10"),
				FromDomain: "example.com",
			}
			switch tc.mailFrom {
			case "":
			case "-":
				in.MailFrom = ""
			default:
				in.MailFrom = tc.mailFrom
			}
			if tc.helo != "" {
				in.Helo = tc.helo
			}
			if tc.ip != "" {
				in.RemoteIP = net.ParseIP(tc.ip)
			}
			wantDomain := tc.domain
			if wantDomain == "" {
				wantDomain = "example.com"
			}
			got := Verify(context.Background(), dns, in).SPF
			require.Equal(t, tc.want, got.Result, "error: %s", got.Error)
			require.Equal(t, wantDomain, got.Domain)
			if tc.errWant {
				require.NotEmpty(t, got.Error)
			} else {
				require.Empty(t, got.Error)
			}
			require.LessOrEqual(t, dns.queries.Load(), int64(spfQueryBudget+10))
		})
	}
}

func TestSPFNoRemoteIP(t *testing.T) {
	dns := newFakeDNS()
	dns.txt["example.com"] = []string{"v=spf1 +all"}
	got := Verify(context.Background(), dns, Input{MailFrom: "a@example.com"}).SPF
	require.Equal(t, "permerror", got.Result)
	require.Equal(t, "example.com", got.Domain)
}

func TestDMARC(t *testing.T) {
	ed, _ := testKeys(t)
	ip := net.ParseIP("192.0.2.10")

	tests := []struct {
		name       string
		fromDomain string
		dkimDomain string // sign with this d= (and publish the key) unless empty
		mailFrom   string
		txt        map[string][]string
		fail       []string
		want       string
		policy     string
	}{
		{
			name:       "pass via aligned DKIM",
			fromDomain: "example.com",
			dkimDomain: "example.com",
			mailFrom:   "bounce@esp.example.net", // SPF fails
			txt: map[string][]string{
				"_dmarc.example.com": {"v=DMARC1; p=reject; rua=mailto:d@example.com"},
				"esp.example.net":    {"v=spf1 -all"},
			},
			want: "pass", policy: "reject",
		},
		{
			name:       "pass via relaxed DKIM alignment of a subdomain",
			fromDomain: "example.com",
			dkimDomain: "mail.example.com",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=quarantine"}},
			want:       "pass", policy: "quarantine",
		},
		{
			name:       "strict DKIM alignment rejects a subdomain",
			fromDomain: "example.com",
			dkimDomain: "mail.example.com",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject; adkim=s"}},
			want:       "fail", policy: "reject",
		},
		{
			name:       "unaligned DKIM pass does not count",
			fromDomain: "example.com",
			dkimDomain: "esp.example.net",
			mailFrom:   "bounce@esp.example.net",
			txt: map[string][]string{
				"_dmarc.example.com": {"v=DMARC1; p=reject"},
				"esp.example.net":    {"v=spf1 ip4:192.0.2.0/24 -all"},
			},
			want: "fail", policy: "reject",
		},
		{
			name:       "pass via aligned SPF",
			fromDomain: "example.com",
			mailFrom:   "bounce@bounces.example.com",
			txt: map[string][]string{
				"_dmarc.example.com":  {"v=DMARC1; p=reject"},
				"bounces.example.com": {"v=spf1 ip4:192.0.2.10 -all"},
			},
			want: "pass", policy: "reject",
		},
		{
			name:       "strict SPF alignment rejects a subdomain",
			fromDomain: "example.com",
			mailFrom:   "bounce@bounces.example.com",
			txt: map[string][]string{
				"_dmarc.example.com":  {"v=DMARC1; p=reject; aspf=s"},
				"bounces.example.com": {"v=spf1 ip4:192.0.2.10 -all"},
			},
			want: "fail", policy: "reject",
		},
		{
			name:       "fail with p=reject",
			fromDomain: "example.com",
			mailFrom:   "bounce@example.com",
			txt: map[string][]string{
				"_dmarc.example.com": {"v=DMARC1; p=reject"},
				"example.com":        {"v=spf1 ip4:203.0.113.0/24 -all"},
			},
			want: "fail", policy: "reject",
		},
		{
			name:       "none without a record",
			fromDomain: "example.com",
			dkimDomain: "example.com",
			mailFrom:   "bounce@example.com",
			want:       "none",
		},
		{
			name:       "subdomain uses the organizational domain's sp",
			fromDomain: "news.example.com",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject; sp=quarantine"}},
			want:       "fail", policy: "quarantine",
		},
		{
			name:       "subdomain uses the organizational domain's p without sp",
			fromDomain: "news.example.com",
			dkimDomain: "example.com",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=none"}},
			want:       "pass", policy: "none",
		},
		{
			name:       "public suffix list gives the organizational domain",
			fromDomain: "shop.example.co.uk",
			dkimDomain: "mail.example.co.uk",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.co.uk": {"v=DMARC1; p=reject"}},
			want:       "pass", policy: "reject",
		},
		{
			name:       "different registrations under a public suffix do not align",
			fromDomain: "example.co.uk",
			dkimDomain: "other.co.uk",
			mailFrom:   "bounce@esp.example.net",
			txt:        map[string][]string{"_dmarc.example.co.uk": {"v=DMARC1; p=reject"}},
			want:       "fail", policy: "reject",
		},
		{
			name:       "malformed record is permerror",
			fromDomain: "example.com",
			dkimDomain: "example.com",
			mailFrom:   "bounce@example.com",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=maybe"}},
			want:       "permerror",
		},
		{
			name:       "record lookup failing temporarily is temperror",
			fromDomain: "example.com",
			dkimDomain: "example.com",
			mailFrom:   "bounce@example.com",
			fail:       []string{"_dmarc.example.com"},
			want:       "temperror",
		},
		{
			name:       "aligned SPF temperror without a pass is temperror",
			fromDomain: "example.com",
			mailFrom:   "bounce@example.com",
			txt:        map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject"}},
			fail:       []string{"example.com"},
			want:       "temperror", policy: "reject",
		},
		{
			name:       "no From domain is none",
			fromDomain: "",
			dkimDomain: "example.com",
			mailFrom:   "bounce@example.com",
			want:       "none",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dns := newFakeDNS()
			for k, v := range tc.txt {
				dns.txt[k] = v
			}
			for _, k := range tc.fail {
				dns.fail[k] = true
			}
			raw := testMessage("alice@" + tc.fromDomain)
			if tc.dkimDomain != "" {
				raw = sign(t, raw, tc.dkimDomain, "sel", ed)
				publishKey(t, dns, tc.dkimDomain, "sel", ed)
			}
			got := Verify(context.Background(), dns, Input{
				Raw:        raw,
				MailFrom:   tc.mailFrom,
				Helo:       "mail.esp.example.net",
				RemoteIP:   ip,
				FromDomain: tc.fromDomain,
			})
			if tc.dkimDomain != "" {
				require.Equal(t, "pass", got.DKIM[0].Result, got.DKIM[0].Error)
			}
			require.Equal(t, tc.fromDomain, got.DMARC.Domain)
			require.Equal(t, tc.want, got.DMARC.Result, "error: %s", got.DMARC.Error)
			require.Equal(t, tc.policy, got.DMARC.Policy)
			if tc.want == "pass" {
				require.Empty(t, got.DMARC.Error)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	ed, _ := testKeys(t)
	raw := sign(t, testMessage("alice@example.com"), "example.com", "ed", ed)
	in := Input{
		Raw:        raw,
		MailFrom:   "bounce@example.com",
		Helo:       "mail.example.com",
		RemoteIP:   net.ParseIP("192.0.2.10"),
		FromDomain: "example.com",
	}
	requireTempErrors := func(t *testing.T, got mailmsg.AuthResults) {
		t.Helper()
		require.Len(t, got.DKIM, 1)
		require.Equal(t, "temperror", got.DKIM[0].Result, got.DKIM[0].Error)
		require.Equal(t, "temperror", got.SPF.Result, got.SPF.Error)
		require.Equal(t, "example.com", got.SPF.Domain)
		require.Equal(t, "temperror", got.DMARC.Result, got.DMARC.Error)
		require.Equal(t, "example.com", got.DMARC.Domain)
	}

	t.Run("resolver honouring the context", func(t *testing.T) {
		dns := newFakeDNS()
		dns.hang = true
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		got := Verify(ctx, dns, in)
		require.Less(t, time.Since(start), 2*time.Second)
		requireTempErrors(t, got)
	})

	t.Run("resolver ignoring the context", func(t *testing.T) {
		dns := newFakeDNS()
		dns.block = make(chan struct{})
		defer close(dns.block)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		got := Verify(ctx, dns, in)
		require.Less(t, time.Since(start), 2*time.Second)
		requireTempErrors(t, got)
	})

	t.Run("already cancelled context", func(t *testing.T) {
		dns := newFakeDNS()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got := Verify(ctx, dns, in)
		requireTempErrors(t, got)
		require.Zero(t, dns.queries.Load())
	})
}

func TestVerifyNeverPanics(t *testing.T) {
	ed, _ := testKeys(t)
	raw := sign(t, testMessage("alice@example.com"), "example.com", "ed", ed)

	t.Run("panicking resolver", func(t *testing.T) {
		dns := newFakeDNS()
		dns.panics = true
		var got mailmsg.AuthResults
		require.NotPanics(t, func() {
			got = Verify(context.Background(), dns, Input{
				Raw: raw, MailFrom: "a@example.com", RemoteIP: net.ParseIP("192.0.2.10"), FromDomain: "example.com",
			})
		})
		require.Equal(t, "permerror", got.DKIM[0].Result)
		require.Contains(t, got.DKIM[0].Error, "panic")
		require.Equal(t, "permerror", got.SPF.Result)
		require.Contains(t, got.SPF.Error, "panic")
		require.Equal(t, "permerror", got.DMARC.Result)
		require.Contains(t, got.DMARC.Error, "panic")
	})

	t.Run("nil resolver", func(t *testing.T) {
		var got mailmsg.AuthResults
		require.NotPanics(t, func() {
			got = Verify(context.Background(), nil, Input{
				Raw: raw, MailFrom: "a@example.com", RemoteIP: net.ParseIP("192.0.2.10"), FromDomain: "example.com",
			})
		})
		require.Equal(t, "permerror", got.DKIM[0].Result)
		require.Equal(t, "permerror", got.SPF.Result)
		require.Equal(t, "permerror", got.DMARC.Result)
	})

	inputs := map[string]Input{
		"zero input":    {},
		"garbage":       {Raw: []byte("\x00\xff\r\n\r\n\r\n"), MailFrom: "@", Helo: "...", FromDomain: "."},
		"header only":   {Raw: []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=; s=\r\nFrom: a@b\r\n"), RemoteIP: net.IPv6loopback},
		"bad ip":        {Raw: raw, MailFrom: "a@example.com", RemoteIP: net.IP{1, 2, 3}, FromDomain: "example.com"},
		"long domain":   {MailFrom: "a@" + strings.Repeat("a.", 200) + "com", RemoteIP: net.IPv4(192, 0, 2, 1), FromDomain: strings.Repeat("x", 300)},
		"angle address": {MailFrom: "<a@example.com>", RemoteIP: net.IPv4(192, 0, 2, 1)},
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			dns := newFakeDNS()
			require.NotPanics(t, func() {
				got := Verify(context.Background(), dns, in)
				require.NotEmpty(t, got.DKIM)
				require.NotEmpty(t, got.SPF.Result)
				require.NotEmpty(t, got.DMARC.Result)
			})
		})
	}
}

func TestOrgDomainAndAlignment(t *testing.T) {
	tests := []struct {
		a, b    string
		relaxed bool
		strict  bool
	}{
		{"example.com", "example.com", true, true},
		{"Example.COM.", "example.com", true, true},
		{"mail.example.com", "example.com", true, false},
		{"a.example.com", "b.example.com", true, false},
		{"example.com", "example.org", false, false},
		{"a.example.co.uk", "example.co.uk", true, false},
		{"example.co.uk", "other.co.uk", false, false},
		{"", "example.com", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.a+"~"+tc.b, func(t *testing.T) {
			require.Equal(t, tc.relaxed, aligned(tc.a, tc.b, "r"))
			require.Equal(t, tc.strict, aligned(tc.a, tc.b, "s"))
		})
	}
}

func TestSPFSyntax(t *testing.T) {
	valid := []string{
		"v=spf1",
		"v=spf1 -all",
		"V=SPF1 IP4:192.0.2.0/24 ~ALL",
		"v=spf1 include:_spf.google.com ~all",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/0 ip6:2001:db8::/32 ip6:::1 a mx -all",
		"v=spf1 a/24 a//64 a/24//64 mx/28 a:mail.example.com/24//64 mx:%{d} ?ptr ptr:example.com -all",
		"v=spf1 exists:%{i}.spf.example.com redirect=_spf.example.com exp=explain.%{d}",
		"v=spf1 +a -mx ~include:x.example ?all unknown-mod=whatever",
		"google-site-verification=abc def", // not an SPF record
	}
	for _, rec := range valid {
		t.Run("valid "+rec, func(t *testing.T) {
			require.NoError(t, spfSyntaxError(rec))
		})
	}
	invalid := []string{
		"v=spf1 bogus -all",
		"v=spf1 ip4:999.0.2.1 -all",
		"v=spf1 ip4:192.0.2.0/33 -all",
		"v=spf1 ip4:2001:db8::1 -all",
		"v=spf1 ip6:192.0.2.1 -all",
		"v=spf1 ip6:2001:db8::/129 -all",
		"v=spf1 ip4: -all",
		"v=spf1 a/33 -all",
		"v=spf1 mx//129 -all",
		"v=spf1 include: -all",
		"v=spf1 all:example.com",
		"v=spf1 +-all",
		"v=spf1 - all",
	}
	for _, rec := range invalid {
		t.Run("invalid "+rec, func(t *testing.T) {
			require.Error(t, spfSyntaxError(rec))
		})
	}
}
