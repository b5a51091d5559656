package mailparse

import (
	"net/url"
	"strings"

	"github.com/mailgent/mailgent/internal/domain"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// urlHost returns the host of an http(s) URL the way a browser finds it
// (after any user info, before the port; a backslash ends it like a slash;
// percent escapes decoded), normalised by domain.Normalize. A host that
// does not normalise (an IP literal, an underscore) is returned
// lower-cased, in punycode where it has non-ASCII letters.
func urlHost(u string) string {
	return authorityHost(urlAuthority(u))
}

// urlAuthority is the part of a URL between "://" and the path.
func urlAuthority(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	// Browsers skip extra slashes, of either kind, before the host.
	rest := strings.TrimLeft(u[i+3:], "/\\")
	if j := strings.IndexAny(rest, "/\\?#"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func authorityHost(rest string) string {
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			return strings.ToLower(rest[:j+1])
		}
	} else if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	if strings.IndexByte(rest, '%') >= 0 {
		if un, err := url.PathUnescape(rest); err == nil {
			rest = un
		}
	}
	if d, err := domain.Normalize(rest); err == nil {
		return d
	}
	rest = strings.ToLower(toValidUTF8(strings.TrimSpace(rest)))
	if a, err := idna.Punycode.ToASCII(rest); err == nil {
		return a
	}
	return rest
}

// hostCache memoises urlHost for the links of one message: they mostly
// share a few hosts.
type hostCache map[string]string

func (c hostCache) host(u string) string {
	a := urlAuthority(u)
	if h, ok := c[a]; ok {
		return h
	}
	h := authorityHost(a)
	c[a] = h
	return h
}

// fileExtTLDs are top-level domains that are also file extensions: a bare
// "report.zip" or "README.md" in a link's text names a file, not a site.
var fileExtTLDs = map[string]bool{
	"zip": true, "mov": true, "md": true, "py": true, "sh": true, "rs": true, "pl": true,
	"ps": true, "cs": true, "ai": true, "app": true, "doc": true, "docx": true, "pdf": true,
}

// textDomain returns the domain a link text names, if any: a URL
// ("https://github.com/login/device") or a host name ("github.com",
// "www.github.com/login") whose suffix is on the ICANN part of the public
// suffix list, so that "e.g." or "v1.2" name nothing.
func textDomain(text string) (string, bool) {
	if strings.IndexByte(text, '.') < 0 {
		return "", false
	}
	for _, tok := range strings.FieldsFunc(text, isTextDomainSep) {
		if d, ok := tokenDomain(tok); ok {
			return d, true
		}
	}
	return "", false
}

func isTextDomainSep(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '(', ')', '<', '>', '"', '\'', ',', ';', '|', '[', ']', '«', '»', '“', '”':
		return true
	}
	return false
}

// tokenDomain tells whether one word of a link text is a URL or host name.
func tokenDomain(tok string) (string, bool) {
	tok = strings.Trim(tok, ".,;:!?*")
	if strings.IndexByte(tok, '.') < 0 {
		return "", false
	}
	lower := strings.ToLower(tok)
	var d string
	explicit := false // a scheme, "www." or a path: surely a site
	if i := strings.Index(lower, "://"); i > 0 {
		if !isHTTP(lower) {
			return "", false
		}
		d, explicit = urlHost(lower), true
	} else {
		if strings.IndexByte(lower, '@') >= 0 {
			return "", false // an address names a mailbox, not where a link goes
		}
		host := lower
		if j := strings.IndexAny(host, "/?#:"); j >= 0 {
			host, explicit = host[:j], true
		}
		explicit = explicit || strings.HasPrefix(host, "www.")
		n, err := domain.Normalize(host)
		if err != nil {
			return "", false
		}
		d = n
	}
	suffix, icann := publicsuffix.PublicSuffix(d)
	if !icann || suffix == d || strings.IndexByte(d, '.') < 0 {
		return "", false
	}
	if !explicit && fileExtTLDs[suffix] {
		return "", false
	}
	return d, true
}

// isSuspicious tells a link whose text names a domain of another
// organisation than its host's, unless the URL is a redirect that names
// the text's organisation as where it goes.
func isSuspicious(text, rawURL, host string) bool {
	named, ok := textDomain(text)
	if !ok || host == "" {
		return false
	}
	org := domain.Org(named)
	if org == domain.Org(host) {
		return false
	}
	if p, err := url.Parse(rawURL); err == nil {
		for _, vs := range p.Query() {
			for _, v := range vs {
				if isHTTP(v) && domain.Org(urlHost(v)) == org {
					return false
				}
			}
		}
	}
	return true
}
