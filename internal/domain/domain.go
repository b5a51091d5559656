// Package domain is the one place that says what a mail domain is: how a
// sender's domain is normalised (lower case, no trailing dot, IDNA to its
// ASCII form so a look-alike shows as xn--…), what its organisational
// domain is (the public suffix list, RFC 7489 section 3.2) and when two
// domains align. The relay's trust verdict, link alignment and the
// plugin's sender filter all use it, so they cannot disagree.
package domain

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// profile is IDNA's lookup profile (UTS #46 mapping, then the rules for
// registrable names), which is what a resolver applies to a typed name.
var profile = idna.Lookup

// ErrInvalid is returned for a name that is not a domain.
var ErrInvalid = errors.New("not a domain name")

// Normalize returns d lower-cased, without surrounding space or a trailing
// dot, in its ASCII (punycode) form. It refuses what cannot be a domain:
// empty labels, over-long names, characters outside a host name.
func Normalize(d string) (string, error) {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	if d == "" || len(d) > 253 {
		return "", ErrInvalid
	}
	a, err := profile.ToASCII(d)
	if err != nil {
		// Underscores (DKIM selectors, SRV-like names) are valid DNS but
		// not host names; a sender domain never needs them.
		return "", ErrInvalid
	}
	a = strings.ToLower(a)
	for _, l := range strings.Split(a, ".") {
		if l == "" || len(l) > 63 {
			return "", ErrInvalid
		}
	}
	return a, nil
}

// OfAddress returns the normalised domain of an email address ("" when it
// has none or it does not normalise).
func OfAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	d, err := Normalize(addr[at+1:])
	if err != nil {
		return ""
	}
	return d
}

// Org returns the organisational domain of a normalised domain: its public
// suffix plus one label. A name the list cannot place (a bare public
// suffix, a single label) is its own organisational domain.
func Org(d string) string {
	if od, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return od
	}
	return d
}

// Aligned reports relaxed alignment (RFC 7489 section 3.1): a and b, both
// normalised, have the same organisational domain. Empty never aligns.
func Aligned(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return a == b || Org(a) == Org(b)
}

// Under reports whether d is want or a subdomain of it: "mail.github.com"
// is under "github.com", "github.com.evil.example" is not. Both normalised.
func Under(d, want string) bool {
	if d == "" || want == "" {
		return false
	}
	return d == want || strings.HasSuffix(d, "."+want)
}
