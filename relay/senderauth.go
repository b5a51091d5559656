package relay

import (
	"context"
	"net"
	"time"

	dnscache "github.com/ncruces/go-dns"

	"github.com/mailgent/mailgent/internal/mailauth"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Sender authentication of inbound mail: DKIM, SPF and DMARC
// (internal/mailauth) within -auth-timeout, asking -resolver or the system
// resolver; off with -sender-auth=false.

const authDisabled = "sender authentication disabled on this relay"

// newResolver returns Go's resolver asking addr, or the servers of
// /etc/resolv.conf when addr is empty, over the network it picks (UDP, TCP
// for a truncated answer) — through a cache of up to entries answers when
// entries > 0. A cached answer is kept for its TTL, at most maxTTL; a
// negative one for its SOA's TTL; a failure (SERVFAIL, a timeout) not at
// all. Every message asks the same few names (the sender's SPF, DMARC and
// DKIM records): without the cache each is a network round trip and a
// socket per lookup, a third of the relay's time per message in
// docs/benchmarks.md. ncruces/go-dns caches at the wire level under Go's
// own resolver, so answers are parsed as without it.
func newResolver(addr string, entries int, maxTTL time.Duration) *net.Resolver {
	r := &net.Resolver{PreferGo: true}
	if addr != "" {
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	if entries <= 0 {
		return r
	}
	return dnscache.NewCachingResolver(r, dnscache.MaxCacheEntries(entries), dnscache.MaxCacheTTL(maxTTL))
}

// verifySender runs DKIM, SPF and DMARC within the configured budget, or
// records that it was not done. fromDomain is the normalised sender domain.
func (srv *Server) verifySender(raw []byte, mailFrom, helo, remote, fromDomain string) mailmsg.AuthResults {
	if srv.resolver == nil {
		return mailmsg.AuthResults{
			DKIM:  []mailmsg.DKIMResult{{Result: "none", Error: authDisabled}},
			SPF:   mailmsg.SPFResult{Result: "none", Error: authDisabled},
			DMARC: mailmsg.DMARCResult{Result: "none", Error: authDisabled},
		}
	}
	host, _, _ := net.SplitHostPort(remote)
	ctx, cancel := context.WithTimeout(context.Background(), srv.cfg.AuthTimeout)
	defer cancel()
	return mailauth.Verify(ctx, srv.resolver, mailauth.Input{
		Raw: raw, MailFrom: mailFrom, Helo: helo, RemoteIP: net.ParseIP(host), FromDomain: fromDomain,
	})
}

// verdict is the message's sender trust: never verified by a relay that
// did not check.
func (srv *Server) verdict(msg *mailmsg.Message) (trust, reason string) {
	if srv.resolver == nil {
		return mailmsg.TrustUnverified, authDisabled
	}
	return mailauth.Verdict(msg.SenderDomain, msg.Auth)
}
