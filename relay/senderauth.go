package relay

import (
	"context"
	"net"

	"github.com/mailgent/mailgent/internal/mailauth"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Sender authentication of inbound mail: DKIM, SPF and DMARC
// (internal/mailauth) within -auth-timeout, asking -resolver or the system
// resolver; off with -sender-auth=false.

const authDisabled = "sender authentication disabled on this relay"

// newResolver returns the system resolver for an empty addr, else Go's
// resolver sending every query to addr, over the network it picks (UDP,
// TCP for a truncated answer).
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
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
