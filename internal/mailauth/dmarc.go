package mailauth

import (
	"context"
	"errors"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// dmarcLookup is the outcome of looking up the From domain's DMARC record.
type dmarcLookup struct {
	record *dmarc.Record
	// policy is the policy that applies to the From domain: p= of its own
	// record, or sp= (falling back to p=) of its organizational domain's.
	policy string
	// result is set when there is no usable record: none, temperror or
	// permerror.
	result string
	err    string
}

// orgDomain returns the organizational domain of d (RFC 7489 section 3.2):
// the public suffix plus one label, from golang.org/x/net/publicsuffix's
// compiled-in list. Names it cannot handle (a bare public suffix, say) are
// their own organizational domain.
func orgDomain(d string) string {
	d = normDomain(d)
	if od, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return od
	}
	return d
}

// lookupDMARC finds the DMARC record for the From domain, falling back to
// its organizational domain (RFC 7489 section 6.6.3). It makes at most two
// TXT lookups.
func lookupDMARC(ctx context.Context, r Resolver, fromDomain string) dmarcLookup {
	if !validDomain(fromDomain) {
		msg := "no From domain"
		if fromDomain != "" {
			msg = "From domain is not a valid domain name"
		}
		return dmarcLookup{result: ResultNone, err: msg}
	}
	g := newGuard(r, 2)
	opts := &dmarc.LookupOptions{LookupTXT: g.txtFunc(ctx)}

	rec, err := dmarc.LookupWithOptions(fromDomain, opts)
	fromOrg := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if od := orgDomain(fromDomain); od != fromDomain {
			rec, err = dmarc.LookupWithOptions(od, opts)
			fromOrg = true
		}
	}
	switch {
	case err == nil && rec != nil:
		policy := string(rec.Policy)
		if fromOrg && rec.SubdomainPolicy != "" {
			policy = string(rec.SubdomainPolicy)
		}
		return dmarcLookup{record: rec, policy: policy}
	case errors.Is(err, dmarc.ErrNoPolicy):
		return dmarcLookup{result: ResultNone}
	case dmarc.IsTempFail(err) || ctx.Err() != nil:
		return dmarcLookup{result: ResultTempError, err: errString(err, ctx)}
	default:
		// A malformed record, or a lookup that failed for good.
		return dmarcLookup{result: ResultPermError, err: errString(err, ctx)}
	}
}

func errString(err error, ctx context.Context) string {
	if err != nil {
		return err.Error()
	}
	if ctx.Err() != nil {
		return ctx.Err().Error()
	}
	return "unknown error"
}

// aligned reports whether an authenticated domain aligns with the From
// domain: identical in strict mode, the same organizational domain in
// relaxed mode.
func aligned(authDomain, fromDomain string, mode dmarc.AlignmentMode) bool {
	authDomain, fromDomain = normDomain(authDomain), normDomain(fromDomain)
	if authDomain == "" || fromDomain == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return authDomain == fromDomain
	}
	return orgDomain(authDomain) == orgDomain(fromDomain)
}

// evalDMARC combines the DMARC record lookup with the DKIM and SPF results:
// pass on an aligned DKIM pass or an aligned SPF pass; otherwise temperror
// if SPF or an aligned DKIM signature failed temporarily (a retry might
// pass), else fail. pct= is not applied: Policy is what the domain asks for.
func evalDMARC(fromDomain string, dl dmarcLookup, dkimRes []mailmsg.DKIMResult, spfRes mailmsg.SPFResult) mailmsg.DMARCResult {
	out := mailmsg.DMARCResult{Domain: fromDomain}
	if dl.record == nil {
		out.Result, out.Error = dl.result, dl.err
		if out.Result == "" {
			out.Result, out.Error = ResultPermError, "no DMARC lookup result"
		}
		return out
	}
	out.Policy = dl.policy

	adkim, aspf := dl.record.DKIMAlignment, dl.record.SPFAlignment
	temp := false
	for _, d := range dkimRes {
		if !aligned(d.Domain, fromDomain, adkim) {
			// A timed-out DKIM check may not know its domain.
			temp = temp || (d.Domain == "" && d.Result == ResultTempError)
			continue
		}
		switch d.Result {
		case ResultPass:
			out.Result = ResultPass
			return out
		case ResultTempError:
			temp = true
		}
	}
	if aligned(spfRes.Domain, fromDomain, aspf) {
		switch spfRes.Result {
		case ResultPass:
			out.Result = ResultPass
			return out
		case ResultTempError:
			temp = true
		}
	} else if spfRes.Result == ResultTempError && spfRes.Domain == "" {
		temp = true
	}

	if temp {
		out.Result = ResultTempError
		out.Error = "no aligned DKIM or SPF pass; a check failed temporarily"
		return out
	}
	out.Result = ResultFail
	out.Error = "no aligned DKIM or SPF pass"
	return out
}
