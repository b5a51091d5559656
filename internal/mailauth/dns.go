package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// guard wraps a Resolver for one check: it refuses queries once the context
// is done or the check's query budget is spent, and turns every error into a
// *net.DNSError, because go-msgauth and the SPF library classify errors by
// type assertion (net.Error's Temporary, *net.DNSError's IsNotFound) and
// would take, say, a bare context.Canceled for a permanent failure.
type guard struct {
	r      Resolver
	budget atomic.Int64
	// checkSPF makes LookupTXT fail permanently on an SPF record with a
	// syntax error (see spfSyntaxError).
	checkSPF bool
}

func newGuard(r Resolver, budget int64) *guard {
	g := &guard{r: r}
	g.budget.Store(budget)
	return g
}

var errBudget = errors.New("DNS query budget exhausted")

func (g *guard) before(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return dnsError(ctx, name, err)
	}
	if g.budget.Add(-1) < 0 {
		// Permanent: neither temporary nor not-found.
		return &net.DNSError{Err: errBudget.Error(), Name: name}
	}
	return nil
}

// recoverPanic turns a panic in the wrapped Resolver into a permanent DNS
// error. go-msgauth verifies several DKIM signatures in goroutines of its
// own, where Verify could not recover a panic.
func recoverPanic(name string, err *error) {
	if p := recover(); p != nil {
		*err = &net.DNSError{Err: fmt.Sprintf("resolver panic: %v", p), Name: name}
	}
}

func (g *guard) LookupTXT(ctx context.Context, name string) (txts []string, err error) {
	if err := g.before(ctx, name); err != nil {
		return nil, err
	}
	defer recoverPanic(name, &err)
	txts, err = g.r.LookupTXT(ctx, name)
	if err == nil && g.checkSPF {
		for _, txt := range txts {
			if serr := spfSyntaxError(txt); serr != nil {
				return nil, &net.DNSError{Err: serr.Error(), Name: name}
			}
		}
	}
	return txts, dnsError(ctx, name, err)
}

func (g *guard) LookupIPAddr(ctx context.Context, host string) (ips []net.IPAddr, err error) {
	if err := g.before(ctx, host); err != nil {
		return nil, err
	}
	defer recoverPanic(host, &err)
	ips, err = g.r.LookupIPAddr(ctx, host)
	return ips, dnsError(ctx, host, err)
}

func (g *guard) LookupMX(ctx context.Context, name string) (mxs []*net.MX, err error) {
	if err := g.before(ctx, name); err != nil {
		return nil, err
	}
	defer recoverPanic(name, &err)
	mxs, err = g.r.LookupMX(ctx, name)
	return mxs, dnsError(ctx, name, err)
}

type addrResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// LookupAddr serves SPF's "ptr" mechanism. Without reverse lookups in the
// wrapped Resolver it answers not-found, so "ptr" never matches (RFC 7208
// section 5.5 discourages "ptr" anyway).
func (g *guard) LookupAddr(ctx context.Context, addr string) (names []string, err error) {
	ar, ok := g.r.(addrResolver)
	if !ok {
		return nil, &net.DNSError{Err: "reverse lookups not supported", Name: addr, IsNotFound: true}
	}
	if err := g.before(ctx, addr); err != nil {
		return nil, err
	}
	defer recoverPanic(addr, &err)
	names, err = ar.LookupAddr(ctx, addr)
	return names, dnsError(ctx, addr, err)
}

// txtFunc is the LookupTXT hook for go-msgauth, bound to ctx.
func (g *guard) txtFunc(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := g.LookupTXT(ctx, name)
		if err != nil {
			// Return the *net.DNSError itself, never a nil pointer in a
			// non-nil interface.
			return nil, err
		}
		return txts, nil
	}
}

// dnsError returns err as a *net.DNSError (nil for nil). Errors that are
// neither DNS errors nor context errors count as temporary, like a SERVFAIL.
// Once ctx is done every error is a timeout.
func dnsError(ctx context.Context, name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		if ctx.Err() != nil && !de.IsTimeout {
			de = &net.DNSError{Err: de.Err, Name: de.Name, Server: de.Server, IsTimeout: true, IsTemporary: true}
		}
		return de
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &net.DNSError{Err: err.Error(), Name: name, IsTimeout: true, IsTemporary: true}
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
}
