// Package mailauth authenticates the sender of an accepted email: it verifies
// the message's DKIM signatures, checks SPF for the envelope sender (or the
// HELO name for the null sender) and evaluates the From domain's DMARC policy,
// and reports the outcome as a mailmsg.AuthResults.
//
// All DNS goes through a Resolver, which *net.Resolver satisfies, so tests can
// run offline against an in-process fake.
//
// Verify never panics and is bounded in time: it stops at the earlier of the
// caller's context deadline and Timeout, and every check caps its DNS
// queries (SPF: RFC 7208's 10 lookup and 2 void lookup limits; DKIM: at most
// MaxDKIMSignatures signatures, one key lookup each; DMARC: at most two
// record lookups).
package mailauth

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Result values, as documented on the mailmsg types.
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultSoftFail  = "softfail"
	ResultNeutral   = "neutral"
	ResultNone      = "none"
	ResultTempError = "temperror"
	ResultPermError = "permerror"
)

// Timeout bounds one Verify call when the caller's context has no earlier
// deadline. A check that has not finished by then is reported as temperror.
const Timeout = 15 * time.Second

// MaxDKIMSignatures is the number of DKIM signatures verified per message;
// further signatures are ignored (and not reported).
const MaxDKIMSignatures = 5

// Resolver is the DNS interface the checks use. *net.Resolver satisfies it.
//
// Errors should be *net.DNSError (IsNotFound for NXDOMAIN or no records,
// IsTemporary/IsTimeout for transient failures) as *net.Resolver returns
// them; any other error is treated as a temporary failure. If a Resolver also
// has a method LookupAddr(ctx, addr string) ([]string, error), as
// *net.Resolver does, the SPF "ptr" mechanism uses it; otherwise "ptr" never
// matches.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Input is what Verify checks.
type Input struct {
	// Raw is the message as received (header and body, CRLF line endings).
	Raw []byte
	// MailFrom is the SMTP envelope sender (the address of MAIL FROM, without
	// angle brackets); empty for the null sender.
	MailFrom string
	// Helo is the HELO/EHLO name the client gave.
	Helo string
	// RemoteIP is the connecting client's address.
	RemoteIP net.IP
	// FromDomain is the domain of the RFC 5322 From header, lower-case.
	FromDomain string
}

// Verify runs DKIM, SPF and DMARC for in and returns their results.
//
// DKIM and SPF run concurrently with the DMARC record lookup; the whole call
// returns no later than the earlier of ctx's deadline and Timeout (plus a few
// milliseconds), even if r ignores its context: a check still running then
// is reported as temperror and left to finish in the background.
//
// With no DKIM-Signature header, DKIM is a single result "none" (mirroring
// dkim=none in an Authentication-Results header); otherwise there is one
// result per verified signature, in header order.
//
// DMARC is temperror, rather than fail, when no aligned pass was found but
// an aligned SPF check or DKIM signature ended in temperror, since a retry
// might pass.
func Verify(ctx context.Context, r Resolver, in Input) (res mailmsg.AuthResults) {
	defer func() {
		if p := recover(); p != nil {
			res = internalError(in, fmt.Sprint(p))
		}
	}()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()

	fromDomain := normDomain(in.FromDomain)
	dkimCh := make(chan []mailmsg.DKIMResult, 1)
	spfCh := make(chan mailmsg.SPFResult, 1)
	dmarcCh := make(chan dmarcLookup, 1)

	goSafe(func() { dkimCh <- checkDKIM(ctx, r, in.Raw) }, func(p string) {
		dkimCh <- []mailmsg.DKIMResult{{Result: ResultPermError, Error: "internal error: " + p}}
	})
	goSafe(func() { spfCh <- checkSPF(ctx, r, in) }, func(p string) {
		spfCh <- mailmsg.SPFResult{Result: ResultPermError, Error: "internal error: " + p}
	})
	goSafe(func() { dmarcCh <- lookupDMARC(ctx, r, fromDomain) }, func(p string) {
		dmarcCh <- dmarcLookup{result: ResultPermError, err: "internal error: " + p}
	})

	// Wait for each check, but no longer than the deadline (plus a short
	// grace period for checks that are just noticing the cancellation).
	grace := make(chan struct{})
	go func() {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		close(grace)
	}()
	timeoutErr := func() string { return "timed out: " + context.Cause(ctx).Error() }

	select {
	case res.DKIM = <-dkimCh:
	case <-grace:
		res.DKIM = []mailmsg.DKIMResult{{Result: ResultTempError, Error: timeoutErr()}}
	}
	select {
	case res.SPF = <-spfCh:
	case <-grace:
		res.SPF = mailmsg.SPFResult{Domain: spfDomain(in), Result: ResultTempError, Error: timeoutErr()}
	}
	var dl dmarcLookup
	select {
	case dl = <-dmarcCh:
	case <-grace:
		dl = dmarcLookup{result: ResultTempError, err: timeoutErr()}
	}
	res.DMARC = evalDMARC(fromDomain, dl, res.DKIM, res.SPF)
	return res
}

// goSafe runs f in a goroutine, calling onPanic if it panics.
func goSafe(f func(), onPanic func(string)) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				onPanic(fmt.Sprint(p))
			}
		}()
		f()
	}()
}

func internalError(in Input, p string) mailmsg.AuthResults {
	e := "internal error: " + p
	return mailmsg.AuthResults{
		DKIM:  []mailmsg.DKIMResult{{Result: ResultPermError, Error: e}},
		SPF:   mailmsg.SPFResult{Domain: spfDomain(in), Result: ResultPermError, Error: e},
		DMARC: mailmsg.DMARCResult{Domain: normDomain(in.FromDomain), Result: ResultPermError, Error: e},
	}
}

// normDomain lower-cases d and strips surrounding space and a trailing dot.
func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// validDomain reports whether d looks like a fully qualified domain name
// worth querying (RFC 7208 section 4.3: otherwise the SPF result is none).
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c <= ' ' || c >= 0x7f || strings.IndexByte(`@"()<>[]\,;:`, c) >= 0 {
				return false
			}
		}
	}
	return true
}
