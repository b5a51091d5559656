package relay

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// countingDNS is a DNS server on loopback UDP that answers from a table
// and counts the queries it gets per name.
type countingDNS struct {
	mu      sync.Mutex
	queries map[string]int
	addr    string
}

// startCountingDNS answers TXT queries: "ok." with a record of TTL 1 s,
// "long." with TTL 3600 s, "missing." NXDOMAIN with an SOA of TTL 1 s,
// "broken." SERVFAIL.
func startCountingDNS(t *testing.T) *countingDNS {
	t.Helper()
	c := &countingDNS{queries: map[string]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	c.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		c.mu.Lock()
		c.queries[q.Name]++
		c.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		txt := func(ttl uint32) dns.RR {
			return &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{"v=spf1 -all"}}
		}
		switch q.Name {
		case "ok.example.":
			m.Answer = []dns.RR{txt(1)}
		case "long.example.":
			m.Answer = []dns.RR{txt(3600)}
		case "missing.example.":
			m.SetRcode(req, dns.RcodeNameError)
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
				Ns: "ns.example.", Mbox: "h.example.", Minttl: 1}}
		default:
			m.SetRcode(req, dns.RcodeServerFailure)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return c
}

func (c *countingDNS) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries[name]
}

// The relay's resolver keeps an answer for its TTL, a negative answer for
// its SOA's, and no failure; the cache can be turned off.
func TestResolverCachesAnswersForTheirTTL(t *testing.T) {
	ctx := context.Background()
	srv := startCountingDNS(t)
	r := newResolver(srv.addr, 100, time.Hour)

	for range 3 {
		txts, err := r.LookupTXT(ctx, "ok.example.")
		require.NoError(t, err)
		require.Equal(t, []string{"v=spf1 -all"}, txts)
	}
	require.Equal(t, 1, srv.count("ok.example."), "answered from the cache within its TTL")

	for range 2 {
		_, err := r.LookupTXT(ctx, "missing.example.")
		var de *net.DNSError
		require.ErrorAs(t, err, &de)
		require.True(t, de.IsNotFound, "%v", err)
	}
	require.Equal(t, 1, srv.count("missing.example."), "a negative answer is cached for its SOA's TTL")

	for range 2 {
		_, err := r.LookupTXT(ctx, "broken.example.")
		require.Error(t, err)
	}
	require.GreaterOrEqual(t, srv.count("broken.example."), 2, "each failed lookup asked")
	broken := srv.count("broken.example.")
	_, _ = r.LookupTXT(ctx, "broken.example.")
	require.Greater(t, srv.count("broken.example."), broken, "a failure is never cached")

	time.Sleep(1100 * time.Millisecond) // past the 1 s TTLs
	_, err := r.LookupTXT(ctx, "ok.example.")
	require.NoError(t, err)
	require.Equal(t, 2, srv.count("ok.example."), "asked again once the TTL ran out")
	_, _ = r.LookupTXT(ctx, "missing.example.")
	require.Equal(t, 2, srv.count("missing.example."))

	// -dns-cache-max-ttl caps a long TTL.
	capped := newResolver(srv.addr, 100, time.Second)
	for range 2 {
		_, err := capped.LookupTXT(ctx, "long.example.")
		require.NoError(t, err)
	}
	require.Equal(t, 1, srv.count("long.example."))
	time.Sleep(1100 * time.Millisecond)
	_, err = capped.LookupTXT(ctx, "long.example.")
	require.NoError(t, err)
	require.Equal(t, 2, srv.count("long.example."), "kept no longer than the cap")

	// -dns-cache-entries 0: every lookup asks.
	off := newResolver(srv.addr, 0, time.Hour)
	before := srv.count("ok.example.")
	for range 2 {
		_, err := off.LookupTXT(ctx, "ok.example.")
		require.NoError(t, err)
	}
	require.Equal(t, before+2, srv.count("ok.example."))
}
