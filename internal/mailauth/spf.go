package mailauth

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"blitiri.com.ar/go/spf"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// SPF is evaluated by blitiri.com.ar/go/spf (RFC 7208, with macros, the
// 10-lookup and 2-void-lookup limits, and at most 10 MX names per "mx"),
// given our Resolver through spf.WithResolver and the context through
// spf.WithContext.

// spfQueryBudget caps the DNS queries of one SPF check, on top of the
// library's RFC limits: 10 lookup terms, each "mx" or "ptr" resolving up to
// 10 names, plus the first TXT lookup fit well within it.
const spfQueryBudget = 128

// spfIdentity returns the sender the SPF check uses and the domain checked:
// MAIL FROM's domain, or for the null sender (or a MAIL FROM without a
// domain) postmaster@ the HELO name (RFC 7208 section 2.4).
func spfIdentity(in Input) (sender, domain string) {
	mf := strings.TrimSpace(in.MailFrom)
	mf = strings.TrimSuffix(strings.TrimPrefix(mf, "<"), ">")
	if at := strings.LastIndexByte(mf, '@'); at >= 0 && at < len(mf)-1 {
		domain = normDomain(mf[at+1:])
		local := mf[:at]
		if local == "" || strings.Contains(local, "@") {
			local = "postmaster"
		}
		return local + "@" + domain, domain
	}
	domain = normDomain(in.Helo)
	return "postmaster@" + domain, domain
}

// spfDomain is the domain SPF checks for in.
func spfDomain(in Input) string {
	_, d := spfIdentity(in)
	return d
}

// checkSPF checks whether in.RemoteIP may send mail for the envelope
// sender's domain (or the HELO name).
func checkSPF(ctx context.Context, r Resolver, in Input) mailmsg.SPFResult {
	sender, domain := spfIdentity(in)
	out := mailmsg.SPFResult{Domain: domain}
	if !validDomain(domain) {
		// RFC 7208 section 4.3: a malformed domain (an address literal
		// HELO, say) yields none.
		out.Result = ResultNone
		if domain != "" {
			out.Error = "not a valid domain name"
		} else {
			out.Error = "no MAIL FROM domain or HELO name"
		}
		return out
	}
	if in.RemoteIP == nil || in.RemoteIP.To16() == nil {
		out.Result, out.Error = ResultPermError, "invalid remote IP address"
		return out
	}

	g := newGuard(r, spfQueryBudget)
	g.checkSPF = true
	res, err := spf.CheckHostWithSender(in.RemoteIP, normDomain(in.Helo), sender,
		spf.WithContext(ctx), spf.WithResolver(g))
	out.Result = string(res)
	switch res {
	case spf.Pass, spf.Fail, spf.SoftFail, spf.Neutral, spf.None:
		// err only tells what matched (or that there is no record).
	case spf.TempError, spf.PermError:
		if ctx.Err() != nil {
			out.Result = ResultTempError
		}
		if err != nil {
			out.Error = err.Error()
		}
	default:
		out.Result = ResultPermError
		out.Error = "unexpected SPF result " + string(res)
	}
	return out
}

var (
	spfModifier  = regexp.MustCompile(`^[a-z][a-z0-9._-]*=`)
	spfDualCIDR  = regexp.MustCompile(`^(/[0-9]{1,2})?(//[0-9]{1,3})?$`)
	spfDomainEnd = regexp.MustCompile(`(/[0-9]{1,2})?(//[0-9]{1,3})?$`)
)

// spfSyntaxError checks the terms of an SPF record (a TXT string starting
// with "v=spf1"; others are ignored) and returns an error for an unknown
// mechanism or a malformed ip4/ip6/a/mx argument. RFC 7208 section 4.6 wants
// permerror for a syntax error anywhere in the record, but the SPF library
// parses terms lazily and would return a result from a match before a bad
// term. Domain specs (which may hold macros) are left to the library.
func spfSyntaxError(txt string) error {
	l := strings.ToLower(txt)
	if l != "v=spf1" && !strings.HasPrefix(l, "v=spf1 ") {
		return nil
	}
	for _, term := range strings.Fields(l)[1:] {
		if spfModifier.MatchString(term) {
			continue
		}
		mech := strings.TrimLeft(term, "+-~?")
		if len(term)-len(mech) > 1 {
			return fmt.Errorf("SPF syntax error: bad qualifier in %q", term)
		}
		name, arg, hasArg := strings.Cut(mech, ":")
		// a/24 and mx//64 have a CIDR length but no domain.
		if !hasArg {
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name, arg = name[:i], name[i:]
			}
		}
		var ok bool
		switch name {
		case "all":
			ok = !hasArg && arg == ""
		case "include", "exists":
			ok = hasArg && arg != ""
		case "ptr":
			ok = !hasArg || arg != ""
		case "a", "mx":
			if hasArg {
				domain := spfDomainEnd.ReplaceAllString(arg, "")
				ok = domain != "" && validCIDRs(arg[len(domain):])
			} else {
				ok = validCIDRs(arg)
			}
		case "ip4", "ip6":
			ok = hasArg && validIPNetwork(name, arg)
		}
		if !ok {
			return fmt.Errorf("SPF syntax error: bad term %q", term)
		}
	}
	return nil
}

// validCIDRs checks a "/n", "//n" or "/n//m" suffix of an a or mx mechanism.
func validCIDRs(s string) bool {
	m := spfDualCIDR.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	if m[1] != "" {
		if n, _ := strconv.Atoi(m[1][1:]); n > 32 {
			return false
		}
	}
	if m[2] != "" {
		if n, _ := strconv.Atoi(m[2][2:]); n > 128 {
			return false
		}
	}
	return true
}

// validIPNetwork checks the argument of ip4 or ip6: an address with an
// optional prefix length.
func validIPNetwork(kind, s string) bool {
	addr, length, hasLen := strings.Cut(s, "/")
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	max := 128
	if kind == "ip4" {
		if ip.To4() == nil || strings.Contains(addr, ":") {
			return false
		}
		max = 32
	} else if !strings.Contains(addr, ":") {
		return false
	}
	if !hasLen {
		return true
	}
	n, err := strconv.Atoi(length)
	return err == nil && n >= 0 && n <= max && length != "" && length[0] != '+'
}
