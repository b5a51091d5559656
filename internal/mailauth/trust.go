package mailauth

import (
	"fmt"
	"strings"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Verdict decides whether a message's sender domain (the From address's
// domain, normalised by internal/domain) is authenticated, from the results
// Verify returned:
//
//   - verified when DMARC passed (an aligned DKIM or SPF pass, in the
//     alignment mode the domain's record asks for);
//   - where the domain publishes no usable DMARC record (none, or a
//     malformed one: RFC 7489 section 6.6.3 treats that as none), verified
//     on a DKIM pass or an SPF pass whose domain has the same
//     organisational domain as the sender domain (relaxed alignment);
//   - unverified otherwise: a DMARC fail or temperror, no aligned pass,
//     or no sender domain at all.
//
// reason is one short line an operator or an agent can read, e.g.
// "dkim=pass d=evil.example not aligned with github.com".
func Verdict(senderDomain string, r mailmsg.AuthResults) (trust, reason string) {
	if senderDomain == "" {
		return mailmsg.TrustUnverified, "no sender domain: From has no valid address"
	}
	switch r.DMARC.Result {
	case ResultPass:
		if why := alignedPass(senderDomain, r); why != "" {
			return mailmsg.TrustVerified, "dmarc=pass: " + why
		}
		return mailmsg.TrustVerified, "dmarc=pass"
	case ResultNone, ResultPermError:
		if why := alignedPass(senderDomain, r); why != "" {
			return mailmsg.TrustVerified, "no DMARC record; " + why
		}
		return mailmsg.TrustUnverified, "no DMARC record and no aligned pass: " + evidence(senderDomain, r)
	case ResultFail:
		return mailmsg.TrustUnverified, dmarcLabel(r.DMARC) + ": " + evidence(senderDomain, r)
	case ResultTempError:
		return mailmsg.TrustUnverified, "dmarc=temperror (a DNS lookup failed): " + evidence(senderDomain, r)
	}
	return mailmsg.TrustUnverified, "sender not authenticated: " + evidence(senderDomain, r)
}

// alignedPass names the first DKIM or SPF pass whose domain aligns with
// the sender domain (relaxed), or "" if there is none.
func alignedPass(sender string, r mailmsg.AuthResults) string {
	for _, d := range r.DKIM {
		if d.Result == ResultPass && domain.Aligned(normDomain(d.Domain), sender) {
			return fmt.Sprintf("dkim=pass d=%s aligned with %s", d.Domain, sender)
		}
	}
	if r.SPF.Result == ResultPass && domain.Aligned(normDomain(r.SPF.Domain), sender) {
		return fmt.Sprintf("spf=pass for %s aligned with %s", r.SPF.Domain, sender)
	}
	return ""
}

// evidence says in a few words why nothing authenticated the sender:
// each DKIM signature (at most two) and the SPF result.
func evidence(sender string, r mailmsg.AuthResults) string {
	var parts []string
	for i, d := range r.DKIM {
		if i == 2 {
			break
		}
		switch {
		case d.Result == ResultNone || d.Result == "":
			parts = append(parts, "no DKIM signature")
		case d.Result == ResultPass && !domain.Aligned(normDomain(d.Domain), sender):
			parts = append(parts, fmt.Sprintf("dkim=pass d=%s not aligned with %s", d.Domain, sender))
		default:
			parts = append(parts, fmt.Sprintf("dkim=%s d=%s", d.Result, d.Domain))
		}
	}
	if len(r.DKIM) == 0 {
		parts = append(parts, "no DKIM signature")
	}
	spf := r.SPF
	switch {
	case spf.Domain == "":
		parts = append(parts, "spf="+orNone(spf.Result))
	case spf.Result == ResultPass && !domain.Aligned(normDomain(spf.Domain), sender):
		parts = append(parts, fmt.Sprintf("spf=pass for %s not aligned with %s", spf.Domain, sender))
	default:
		parts = append(parts, fmt.Sprintf("spf=%s for %s", orNone(spf.Result), spf.Domain))
	}
	return strings.Join(parts, "; ")
}

func dmarcLabel(d mailmsg.DMARCResult) string {
	if d.Policy != "" {
		return "dmarc=" + d.Result + " p=" + d.Policy
	}
	return "dmarc=" + d.Result
}

func orNone(s string) string {
	if s == "" {
		return ResultNone
	}
	return s
}
