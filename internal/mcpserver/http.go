package mcpserver

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Whoever reaches the HTTP endpoint acts as the agent, so it is guarded
// three ways, outermost first: the Host header (against DNS rebinding),
// the Origin header (against a web page's cross-site requests) and a
// bearer token (against everyone else on the machine or network).

// MinTokenLength is the shortest bearer token accepted from a file or the
// environment; a generated one is 43 characters (32 random bytes).
const MinTokenLength = 32

// HTTPConfig guards the streamable HTTP endpoint.
type HTTPConfig struct {
	// Token is the bearer token every request must carry.
	Token string
	// Hosts are the host names, besides loopback ones, that a request's
	// Host and Origin may name: the listen host and the TLS certificate's.
	Hosts []string
}

// HTTPHandler serves s over MCP's streamable HTTP transport behind the
// Host, Origin and bearer-token checks.
func HTTPHandler(s *mcp.Server, cfg HTTPConfig) http.Handler {
	// Our Host check replaces the SDK's localhost protection: it also
	// covers non-loopback binds, where the SDK's does nothing.
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	hosts := make([]string, 0, len(cfg.Hosts))
	for _, n := range cfg.Hosts {
		hosts = append(hosts, normalHost(n))
	}
	return guard{token: []byte(cfg.Token), hosts: hosts, next: h}
}

// guard is the three checks in front of the MCP handler.
type guard struct {
	token []byte
	hosts []string
	next  http.Handler
}

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.allowedHost(hostname(r.Host)) {
		http.Error(w, fmt.Sprintf("403 forbidden: Host %q is not a loopback name or one of this server's names", r.Host), http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !g.allowedOrigin(o, r.Host) {
		http.Error(w, fmt.Sprintf("403 forbidden: Origin %q is not this server or a loopback origin", o), http.StatusForbidden)
		return
	}
	if msg := g.checkToken(r.Header.Get("Authorization")); msg != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mailgent-mcp"`)
		http.Error(w, "401 unauthorized: "+msg, http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g guard) allowedHost(h string) bool {
	return h != "" && (isLoopbackName(h) || slices.Contains(g.hosts, h))
}

// allowedOrigin accepts the same origin as the request's Host, a
// loopback origin or one of the server's names; "null" and anything
// unparsable are foreign.
func (g guard) allowedOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host) || g.allowedHost(hostname(u.Host))
}

// checkToken compares in constant time; its message never echoes a token.
func (g guard) checkToken(header string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return "this server needs its bearer token: Authorization: Bearer <token> (printed at start, or MAILGENT_MCP_TOKEN / -http-token-file)"
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), g.token) != 1 {
		return "wrong bearer token"
	}
	return ""
}

// hostname is a Host header's or URL host's name, without port or
// brackets, lower-cased.
func hostname(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	return normalHost(h)
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// isLoopbackName tells localhost and loopback IPs, which no other
// machine's DNS can point a browser at.
func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// CheckListen refuses to serve a non-loopback address without TLS: the
// bearer token would cross the network in clear. An empty host means
// every interface.
func CheckListen(addr string, tls bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-http: %q is not host:port: %v", addr, err)
	}
	if !tls && !isLoopbackName(normalHost(host)) {
		return fmt.Errorf("-http: %q is not a loopback address: serving beyond this machine needs TLS (-http-tls-cert and -http-tls-key), or bind 127.0.0.1", addr)
	}
	return nil
}

// AllowedHosts are the names a request may use besides loopback ones: the
// listen host (unless it is every interface) and the certificate's names.
func AllowedHosts(addr string, cert *x509.Certificate) []string {
	var out []string
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsUnspecified() {
			out = append(out, host)
		}
	}
	if cert != nil {
		out = append(out, cert.DNSNames...)
		for _, ip := range cert.IPAddresses {
			out = append(out, ip.String())
		}
	}
	return out
}

// HTTPToken is the bearer token: read from file when one is named, else
// env's value, else a new random one (generated is then true, and the
// caller shows it once). Never a flag value: a command line is visible to
// every user of the machine.
func HTTPToken(file, env string) (token string, generated bool, err error) {
	source := "MAILGENT_MCP_TOKEN"
	token = env
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("-http-token-file: %w", err)
		}
		source, token = "-http-token-file "+file, string(b)
	}
	token = strings.TrimSpace(token)
	if token == "" && file == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", false, err
		}
		return base64.RawURLEncoding.EncodeToString(b), true, nil
	}
	if len(token) < MinTokenLength {
		return "", false, fmt.Errorf("%s: the token must have at least %d characters", source, MinTokenLength)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", false, errors.New(source + ": the token must not contain white space")
	}
	return token, false, nil
}
