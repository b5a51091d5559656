// Package bus is the one place that knows how Mailgent's plugin and relay meet
// on NATS JetStream: connection options, stream names, subjects and stream
// settings. Both sides call EnsureStreams so either may start first.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// InboundStream holds mail accepted by a relay until the plugin stored it.
	InboundStream = "MAILGENT_INBOUND"
	// InboundSubjectPrefix is followed by the recipient domain and agent name.
	InboundSubjectPrefix = "mailgent.inbound."

	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id, so a
	// relay that retries a publish after a lost PubAck stores the mail once.
	DuplicateWindow = 2 * time.Hour

	// MaxPendingPerAgent is how much accepted mail for one agent the inbound
	// stream holds before the plugin stored it; past it relays answer 452
	// (try later) instead of the stream dropping or growing without bound.
	MaxPendingPerAgent = 2000
	// InboundMaxBytes bounds the inbound stream, BlobMaxBytes the store of
	// large payloads; full, they refuse new mail with a temporary reply.
	InboundMaxBytes = 1 << 30
	BlobMaxBytes    = 4 << 30
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

// InboundStreamConfig is the stream relays publish accepted mail to. It is
// a work queue: a message leaves the stream once the plugin acked it, which
// it does only after the mail is in Vault storage.
func InboundStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        InboundStream,
		Description: "Mail accepted by mailgent-relay, encrypted to the plugin, until the plugin stored it",
		Subjects:    []string{InboundSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		// Full means refuse new mail (the relay answers 4xx and the sender
		// retries), never drop accepted mail.
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxMsgsPerSubject:    MaxPendingPerAgent,
		MaxBytes:             InboundMaxBytes,
	}
}

// EnsureStreams creates or updates every stream Mailgent uses.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.CreateOrUpdateStream(ctx, InboundStreamConfig()); err != nil {
		return fmt.Errorf("ensure stream %s: %w", InboundStream, err)
	}
	return nil
}

// Relay is what a relay uses of the bus, bound by Bind.
type Relay struct {
	// Directory is the address directory (read only).
	Directory jetstream.KeyValue
	// InboundBlobs takes the payloads of large inbound mail.
	InboundBlobs jetstream.ObjectStore
	// Delivered records delivered outbound mail; OutboundBlobs holds
	// large outbound mail (read only).
	Delivered     jetstream.KeyValue
	OutboundBlobs jetstream.ObjectStore
}

// Bind returns the handles a relay uses, without creating or changing
// anything: the plugin owns every stream, bucket and consumer. It fails
// (ErrStreamNotFound, ErrBucketNotFound) until the plugin made them.
func Bind(ctx context.Context, js jetstream.JetStream) (*Relay, error) {
	r := &Relay{}
	var err error
	if _, err = js.Stream(ctx, InboundStream); err != nil {
		return nil, fmt.Errorf("stream %s: %w", InboundStream, err)
	}
	if r.Directory, err = js.KeyValue(ctx, DirectoryBucket); err != nil {
		return nil, fmt.Errorf("KV %s: %w", DirectoryBucket, err)
	}
	if r.InboundBlobs, err = js.ObjectStore(ctx, BlobBucket); err != nil {
		return nil, fmt.Errorf("object store %s: %w", BlobBucket, err)
	}
	if r.Delivered, err = js.KeyValue(ctx, DeliveryBucket); err != nil {
		return nil, fmt.Errorf("KV %s: %w", DeliveryBucket, err)
	}
	if r.OutboundBlobs, err = js.ObjectStore(ctx, OutboundBlobBucket); err != nil {
		return nil, fmt.Errorf("object store %s: %w", OutboundBlobBucket, err)
	}
	return r, nil
}
