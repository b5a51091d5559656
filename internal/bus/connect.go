package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Options are the connection settings shared by the plugin and the relay.
type Options struct {
	// URL is one NATS URL or a comma-separated list of them.
	URL string
	// Username and Password authenticate with user/password authorization.
	Username string
	Password string
	// Name identifies the client in the server's monitoring endpoints.
	Name string
	// CACert (PEM) is the CA the server's TLS certificate must chain to:
	// set, every connection is TLS and verified. tls:// and wss:// URLs
	// without it verify against the system's roots.
	CACert []byte
	// AllowPlaintext permits nats:// or ws:// without TLS to a host that is
	// not loopback (CheckTransport refuses it otherwise).
	AllowPlaintext bool
}

// CheckTransport refuses to send credentials and mail in clear over a
// network: a nats:// or ws:// URL to a non-loopback host needs CACert
// (TLS), or AllowPlaintext said explicitly.
func (o Options) CheckTransport() error {
	if len(o.CACert) > 0 {
		if _, err := caPool(o.CACert); err != nil {
			return err
		}
		return nil
	}
	if o.AllowPlaintext {
		return nil
	}
	for _, one := range strings.Split(o.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			return fmt.Errorf("%q is not a URL", one)
		}
		if u.Scheme != "nats" && u.Scheme != "ws" {
			continue
		}
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q is plain text to a host that is not loopback: give a CA certificate for TLS, or allow plain text explicitly", one)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// caPool parses a PEM bundle of CA certificates.
func caPool(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate in the CA certificate")
	}
	return pool, nil
}

// ValidateURL checks a NATS URL list the way an operator would want it
// checked before anything connects: every entry a nats://, tls://, ws:// or
// wss:// URL with a host and a port or default port.
func ValidateURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errors.New("must not be empty")
	}
	for _, one := range strings.Split(raw, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil {
			return fmt.Errorf("%q is not a URL", one)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q must use the nats://, tls://, ws:// or wss:// scheme", one)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("%q has no host", one)
		}
		if u.User != nil {
			return fmt.Errorf("%q carries credentials; set them as username and password instead", one)
		}
		if p := u.Port(); p != "" {
			var n int
			if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%q has an invalid port", one)
			}
		}
		if u.Path != "" && u.Path != "/" && u.Scheme != "ws" && u.Scheme != "wss" {
			return fmt.Errorf("%q must not have a path", one)
		}
	}
	return nil
}

// Connect dials NATS. It keeps reconnecting forever once connected, so a
// restart of nats-server is a pause, not an outage.
func Connect(o Options, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if o.Username != "" {
		opts = append(opts, nats.UserInfo(o.Username, o.Password))
	}
	if len(o.CACert) > 0 {
		pool, err := caPool(o.CACert)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	if err := o.CheckTransport(); err != nil {
		return nil, err
	}
	opts = append(opts, extra...)
	return nats.Connect(o.URL, opts...)
}
