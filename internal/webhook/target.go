package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Which targets a webhook may call. A webhook's URL must be https (http
// only to a host the operator allows), and its host must be a public
// address: loopback, private, link-local and other non-public addresses
// are refused unless the operator allows them (AllowPrivate, or the host
// in AllowedHosts). The plugin checks when a webhook is written; the relay
// checks again at every delivery, after resolving the name, and dials the
// address it checked (Dialer), so a name that resolves elsewhere later
// (DNS rebinding) reaches nothing it should not.

// Policy is the operator's choice of targets; the plugin puts it in each
// event, so the relays apply what the plugin's config says.
type Policy struct {
	// AllowPrivate permits non-public addresses (https still required).
	AllowPrivate bool `json:"allow_private,omitempty"`
	// AllowedHosts (lower-case names or IP literals) may be called over
	// http too and at any address but the ones never called.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// ErrRefused marks a target the policy refuses.
var ErrRefused = errors.New("webhook target refused")

// MaxURLBytes bounds a webhook URL.
const MaxURLBytes = 2048

// hostAllowed tells whether host is in AllowedHosts.
func (p Policy) hostAllowed(host string) bool {
	return slices.Contains(p.AllowedHosts, strings.ToLower(host))
}

// CheckURL checks a webhook URL's form and, where it can without a DNS
// lookup (an IP literal, localhost), its address.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLBytes {
		return nil, fmt.Errorf("longer than %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.User != nil:
		return nil, errors.New("must not carry credentials (user:password@): the signature authenticates deliveries")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment (#…)")
	case host == "":
		return nil, fmt.Errorf("%q has no host", raw)
	case u.Scheme == "http" && !p.hostAllowed(host):
		return nil, fmt.Errorf("%w: http is allowed only to a host the operator allows; use https", ErrRefused)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%q must use https", raw)
	}
	if port := u.Port(); port != "" {
		var n int
		if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q has an invalid port", raw)
		}
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if !p.hostAllowed(host) && !p.AllowPrivate {
			return nil, fmt.Errorf("%w: %s is loopback", ErrRefused, host)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(host, ip); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// CheckAddr checks one address host resolved to (or is).
func (p Policy) CheckAddr(host string, ip netip.Addr) error {
	ip = ip.Unmap()
	if reason := neverCalled(ip); reason != "" {
		return fmt.Errorf("%w: %s is %s (%s)", ErrRefused, host, reason, ip)
	}
	if p.hostAllowed(host) || p.AllowPrivate {
		return nil
	}
	if reason := nonPublic(ip); reason != "" {
		if host == ip.String() {
			return fmt.Errorf("%w: %s is a %s address", ErrRefused, ip, reason)
		}
		return fmt.Errorf("%w: %s resolves to a %s address (%s)", ErrRefused, host, reason, ip)
	}
	return nil
}

// CheckResolved checks every address a host name resolves to; lookup is
// (*net.Resolver).LookupNetIP with network "ip" outside tests.
func (p Policy) CheckResolved(ctx context.Context, host string, lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, p.CheckAddr(host, ip)
	}
	addrs, err := lookup(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	// Every address must pass: a name that answers with a public and a
	// private address is refused, not dialled at the public one.
	for _, ip := range addrs {
		if err := p.CheckAddr(host, ip); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// neverCalled is why ip is never a target, whatever the policy, or "".
func neverCalled(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsLinkLocalMulticast():
		return "multicast"
	}
	for _, r := range []struct{ prefix, why string }{
		{"0.0.0.0/8", "'this network'"}, {"240.0.0.0/4", "reserved"}, {"255.255.255.255/32", "broadcast"},
	} {
		if netip.MustParsePrefix(r.prefix).Contains(ip) {
			return r.why
		}
	}
	return ""
}

// nonPublic is what kind of non-public address ip is, or "" for a public
// one.
func nonPublic(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	}
	for _, r := range []struct{ prefix, why string }{
		{"100.64.0.0/10", "shared (carrier-grade NAT)"}, {"192.0.0.0/24", "IETF protocol"},
		{"192.0.2.0/24", "documentation"}, {"198.51.100.0/24", "documentation"}, {"203.0.113.0/24", "documentation"},
		{"198.18.0.0/15", "benchmarking"}, {"fec0::/10", "site-local"}, {"2001:db8::/32", "documentation"},
		{"64:ff9b::/96", "NAT64"}, {"64:ff9b:1::/48", "NAT64"}, {"2002::/16", "6to4"},
	} {
		if netip.MustParsePrefix(r.prefix).Contains(ip) {
			return r.why
		}
	}
	return ""
}

// policyKey carries a Policy in a request's context to Dialer.
type policyKey struct{}

// WithPolicy is ctx carrying p for the Dialer of a request made with it.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// Dialer connects to webhook targets: it resolves the host, checks every
// address against the request's Policy (WithPolicy; none: the strictest)
// and dials the addresses it checked, never the name again.
type Dialer struct {
	// Lookup resolves names; nil: net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// Timeout bounds each connection attempt.
	Timeout time.Duration
}

// DialContext is http.Transport's DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, _ := ctx.Value(policyKey{}).(Policy)
	lookup := d.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	addrs, err := p.CheckResolved(ctx, strings.ToLower(host), lookup)
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{Timeout: d.Timeout}
	var firstErr error
	for _, ip := range addrs {
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
