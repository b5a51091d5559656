// Package relay is Mailgent's stateless SMTP relay: it accepts mail for live
// agent addresses, hands it to NATS JetStream for the Vault plugin, and
// delivers the agents' outbound mail to a smarthost.
package relay

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailgent/mailgent/internal/bus"
)

// Config is everything the relay is told at start. Each field has a flag
// and an environment variable (MAILGENT_RELAY_…); a flag wins.
type Config struct {
	// ListenAddr is the SMTP listen address, host:port.
	ListenAddr string
	// Domain is the mail domain served; also the SMTP greeting host name
	// unless Hostname is set.
	Domain string
	// Hostname is this relay's name in the greeting and EHLO reply.
	Hostname string
	// NATS is the bus connection.
	NATS bus.Options
	// NATSCAFile is the PEM CA the NATS servers' certificates must chain
	// to (read into NATS.CACert); NATS.AllowPlaintext permits plain text to
	// a host that is not loopback.
	NATSCAFile string
	// KeyFile holds this relay's key (made there on first start): the
	// operator registers its public halves with the plugin
	// (config/relays/:name; -print-registration prints them).
	KeyFile string

	// MaxMessageBytes is the largest message accepted (SIZE is advertised).
	MaxMessageBytes int64
	// MaxRecipients is the most RCPT TO accepted per message.
	MaxRecipients int
	// MaxLineLength is the longest line accepted in the SMTP dialogue and body.
	MaxLineLength int
	// ReadTimeout and WriteTimeout bound every network read and write.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxSessionsPerIP is the most concurrent sessions one client IP may hold.
	MaxSessionsPerIP int
	// RatePerIP and RatePerSenderDomain are how many messages a minute one
	// client IP and one sender domain (MAIL FROM's) may hand this relay,
	// with a burst of as many; past them MAIL gets 451 4.7.1. 0: no limit.
	RatePerIP           int
	RatePerSenderDomain int
	// TLSCertFile and TLSKeyFile enable STARTTLS when both are set.
	TLSCertFile string
	TLSKeyFile  string
	// ShutdownTimeout is how long open sessions may finish on SIGTERM.
	ShutdownTimeout time.Duration
	// PublishTimeout bounds handing a message to JetStream; past it the
	// sender gets 451 and retries.
	PublishTimeout time.Duration
	// SenderAuth turns DKIM/SPF/DMARC checks on; AuthTimeout bounds them.
	SenderAuth  bool
	AuthTimeout time.Duration
	// Resolver (host:port) is the DNS server the sender authentication
	// checks ask, over UDP and TCP; empty: the system resolver. For tests
	// and `make dev`, whose DNS server publishes the test senders' records.
	Resolver string

	// Smarthost (host:port) is where the agents' outbound mail goes; empty
	// turns outbound delivery off.
	Smarthost string
	// SmarthostTLS is none, starttls (required, not opportunistic) or tls
	// (implicit TLS, as on port 465).
	SmarthostTLS string
	// SmarthostUser and SmarthostPassword authenticate with SmarthostAuth
	// (plain or login) when the user is set. The password comes from the
	// environment only.
	SmarthostUser     string
	SmarthostPassword string
	SmarthostAuth     string
	// SmarthostInsecureSkipVerify skips checking the smarthost's
	// certificate: for tests and development only.
	SmarthostInsecureSkipVerify bool
	// SmarthostTimeout bounds connecting and every network step of a
	// delivery; the reply to the message body may take three times as long.
	SmarthostTimeout time.Duration

	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string
}

// DefaultConfig returns the relay's defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddr:          "127.0.0.1:2525",
		NATS:                bus.Options{URL: "nats://127.0.0.1:4222"},
		MaxMessageBytes:     10 << 20,
		MaxRecipients:       100,
		MaxLineLength:       4096,
		ReadTimeout:         60 * time.Second,
		WriteTimeout:        60 * time.Second,
		MaxSessionsPerIP:    20,
		RatePerIP:           1200,
		RatePerSenderDomain: 600,
		ShutdownTimeout:     30 * time.Second,
		PublishTimeout:      10 * time.Second,
		SenderAuth:          true,
		AuthTimeout:         3 * time.Second,
		SmarthostTLS:        "starttls",
		SmarthostAuth:       "plain",
		SmarthostTimeout:    30 * time.Second,
		LogLevel:            "info",
		LogFormat:           "text",
	}
}

// ErrVersion is returned by ParseFlags when -version was given.
var ErrVersion = errors.New("version requested")

// ErrPrintRegistration is returned by ParseFlags when -print-registration
// was given: print the public halves of the key in -key-file (making it if
// needed) as the fields of the plugin's config/relays/:name, and exit.
var ErrPrintRegistration = errors.New("registration requested")

// ParseFlags fills a Config from the environment and then the command line.
// getenv is os.Getenv outside tests.
func ParseFlags(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("mailgent-relay", flag.ContinueOnError)
	fs.SetOutput(usage)

	var envErrs []error
	str := func(p *string, name, env, help string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, env))
	}
	integer := func(p *int, name, env, help string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s: %q is not an integer", env, v))
			}
			*p = n
		}
		fs.IntVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, env))
	}
	boolean := func(p *bool, name, env, help string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s: %q is not a boolean", env, v))
			}
			*p = b
		}
		fs.BoolVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, env))
	}
	duration := func(p *time.Duration, name, env, help string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s: %q is not a duration", env, v))
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, env))
	}
	maxBytes := int(cfg.MaxMessageBytes)

	str(&cfg.ListenAddr, "listen", "MAILGENT_RELAY_LISTEN", "SMTP listen address")
	str(&cfg.Domain, "domain", "MAILGENT_DOMAIN", "mail domain served (required)")
	str(&cfg.Hostname, "hostname", "MAILGENT_RELAY_HOSTNAME", "host name in the SMTP greeting (default: the domain)")
	str(&cfg.NATS.URL, "nats-url", "MAILGENT_NATS_URL", "NATS URL or comma-separated list")
	str(&cfg.NATS.Username, "nats-user", "MAILGENT_NATS_USER", "NATS user")
	str(&cfg.NATSCAFile, "nats-ca-file", "MAILGENT_NATS_CA_FILE", "PEM CA certificate of the NATS servers: the bus is then TLS, verified")
	boolean(&cfg.NATS.AllowPlaintext, "nats-allow-plaintext", "MAILGENT_NATS_ALLOW_PLAINTEXT", "allow a plain-text nats:// URL to a host that is not loopback")
	str(&cfg.KeyFile, "key-file", "MAILGENT_RELAY_KEY_FILE", "this relay's key file, made on first start (required; register it: -print-registration)")
	// The password comes from the environment only: flags show up in ps.
	if v := getenv("MAILGENT_NATS_PASSWORD"); v != "" {
		cfg.NATS.Password = v
	}
	integer(&maxBytes, "max-message-bytes", "MAILGENT_RELAY_MAX_MESSAGE_BYTES", "largest message accepted, in bytes")
	integer(&cfg.MaxRecipients, "max-recipients", "MAILGENT_RELAY_MAX_RECIPIENTS", "most recipients per message")
	integer(&cfg.MaxLineLength, "max-line-length", "MAILGENT_RELAY_MAX_LINE_LENGTH", "longest line accepted, in bytes")
	duration(&cfg.ReadTimeout, "read-timeout", "MAILGENT_RELAY_READ_TIMEOUT", "timeout of each network read")
	duration(&cfg.WriteTimeout, "write-timeout", "MAILGENT_RELAY_WRITE_TIMEOUT", "timeout of each network write")
	integer(&cfg.MaxSessionsPerIP, "max-sessions-per-ip", "MAILGENT_RELAY_MAX_SESSIONS_PER_IP", "most concurrent sessions per client IP")
	integer(&cfg.RatePerIP, "rate-per-ip", "MAILGENT_RELAY_RATE_PER_IP", "messages per minute one client IP may send (burst as many; 0: no limit)")
	integer(&cfg.RatePerSenderDomain, "rate-per-sender-domain", "MAILGENT_RELAY_RATE_PER_SENDER_DOMAIN", "messages per minute one sender domain (MAIL FROM) may send (burst as many; 0: no limit)")
	str(&cfg.TLSCertFile, "tls-cert", "MAILGENT_RELAY_TLS_CERT", "PEM certificate file; enables STARTTLS with -tls-key")
	str(&cfg.TLSKeyFile, "tls-key", "MAILGENT_RELAY_TLS_KEY", "PEM private key file")
	duration(&cfg.ShutdownTimeout, "shutdown-timeout", "MAILGENT_RELAY_SHUTDOWN_TIMEOUT", "how long open sessions may finish on shutdown")
	duration(&cfg.PublishTimeout, "publish-timeout", "MAILGENT_RELAY_PUBLISH_TIMEOUT", "how long to wait for JetStream before answering 451")
	if v := getenv("MAILGENT_RELAY_SENDER_AUTH"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("MAILGENT_RELAY_SENDER_AUTH: %q is not a boolean", v))
		}
		cfg.SenderAuth = b
	}
	fs.BoolVar(&cfg.SenderAuth, "sender-auth", cfg.SenderAuth, "check DKIM, SPF and DMARC of inbound mail, asking -resolver or the system resolver (env MAILGENT_RELAY_SENDER_AUTH)")
	str(&cfg.Resolver, "resolver", "MAILGENT_RELAY_RESOLVER",
		"host:port of the DNS server for the DKIM, SPF and DMARC lookups, e.g. a test or `make dev` DNS server that publishes local senders' records (empty: the system resolver)")
	duration(&cfg.AuthTimeout, "auth-timeout", "MAILGENT_RELAY_AUTH_TIMEOUT", "time budget of the sender authentication checks")
	str(&cfg.Smarthost, "smarthost", "MAILGENT_RELAY_SMARTHOST", "host:port outbound mail is delivered to (empty: outbound delivery off)")
	str(&cfg.SmarthostTLS, "smarthost-tls", "MAILGENT_RELAY_SMARTHOST_TLS", "none, starttls or tls (implicit TLS)")
	str(&cfg.SmarthostUser, "smarthost-user", "MAILGENT_RELAY_SMARTHOST_USER", "smarthost AUTH user (password: env MAILGENT_RELAY_SMARTHOST_PASSWORD)")
	// Like the NATS password: environment only.
	if v := getenv("MAILGENT_RELAY_SMARTHOST_PASSWORD"); v != "" {
		cfg.SmarthostPassword = v
	}
	str(&cfg.SmarthostAuth, "smarthost-auth", "MAILGENT_RELAY_SMARTHOST_AUTH", "SASL mechanism, plain or login (used when -smarthost-user is set)")
	if v := getenv("MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY: %q is not a boolean", v))
		}
		cfg.SmarthostInsecureSkipVerify = b
	}
	fs.BoolVar(&cfg.SmarthostInsecureSkipVerify, "smarthost-insecure-skip-verify", cfg.SmarthostInsecureSkipVerify,
		"do not verify the smarthost's TLS certificate; tests and development only (env MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY)")
	duration(&cfg.SmarthostTimeout, "smarthost-timeout", "MAILGENT_RELAY_SMARTHOST_TIMEOUT", "timeout of connecting and of each step of a delivery to the smarthost")
	str(&cfg.LogLevel, "log-level", "MAILGENT_LOG_LEVEL", "debug, info, warn or error")
	str(&cfg.LogFormat, "log-format", "MAILGENT_LOG_FORMAT", "text or json")
	showVersion := fs.Bool("version", false, "print the version and exit")
	printReg := fs.Bool("print-registration", false, "print this relay's public keys as the fields of <mount>/config/relays/<name> (making -key-file if needed), and exit")

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *showVersion {
		return cfg, ErrVersion
	}
	if *printReg {
		if cfg.KeyFile == "" {
			return cfg, errors.New("-key-file: is required with -print-registration")
		}
		return cfg, ErrPrintRegistration
	}
	if len(envErrs) > 0 {
		return cfg, errors.Join(envErrs...)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.MaxMessageBytes = int64(maxBytes)
	cfg.Domain = strings.ToLower(strings.TrimSpace(cfg.Domain))
	if cfg.NATSCAFile != "" {
		ca, err := os.ReadFile(cfg.NATSCAFile)
		if err != nil {
			return cfg, fmt.Errorf("-nats-ca-file: %v", err)
		}
		cfg.NATS.CACert = ca
	}
	return cfg, cfg.Validate()
}

// Validate reports the first setting that cannot work, naming its flag.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return fmt.Errorf("-listen: %v", err)
	}
	if c.Domain == "" {
		return errors.New("-domain: is required")
	}
	if strings.ContainsAny(c.Domain, "@ \t/") || !strings.Contains(c.Domain, ".") {
		return fmt.Errorf("-domain: %q is not a mail domain", c.Domain)
	}
	if err := bus.ValidateURL(c.NATS.URL); err != nil {
		return fmt.Errorf("-nats-url: %v", err)
	}
	if err := c.NATS.CheckTransport(); err != nil {
		if len(c.NATS.CACert) > 0 {
			return fmt.Errorf("-nats-ca-file: %v", err)
		}
		return fmt.Errorf("-nats-url: %v (-nats-ca-file, -nats-allow-plaintext)", err)
	}
	if c.KeyFile == "" {
		return errors.New("-key-file: is required: the relay signs the mail it hands the plugin with this key")
	}
	if c.MaxMessageBytes < 1024 {
		return fmt.Errorf("-max-message-bytes: must be at least 1024, got %d", c.MaxMessageBytes)
	}
	if c.MaxRecipients < 1 {
		return fmt.Errorf("-max-recipients: must be at least 1, got %d", c.MaxRecipients)
	}
	if c.MaxLineLength < 1000 {
		// RFC 5321 4.5.3.1.6: a text line may be 1000 octets with CRLF.
		return fmt.Errorf("-max-line-length: must be at least 1000, got %d", c.MaxLineLength)
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		return errors.New("-read-timeout, -write-timeout: must be positive")
	}
	if c.MaxSessionsPerIP < 1 {
		return fmt.Errorf("-max-sessions-per-ip: must be at least 1, got %d", c.MaxSessionsPerIP)
	}
	if c.RatePerIP < 0 {
		return fmt.Errorf("-rate-per-ip: must not be negative, got %d", c.RatePerIP)
	}
	if c.RatePerSenderDomain < 0 {
		return fmt.Errorf("-rate-per-sender-domain: must not be negative, got %d", c.RatePerSenderDomain)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("-tls-cert, -tls-key: set both or neither")
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("-shutdown-timeout: must not be negative")
	}
	if c.PublishTimeout <= 0 {
		return errors.New("-publish-timeout: must be positive")
	}
	if c.SenderAuth && c.AuthTimeout <= 0 {
		return errors.New("-auth-timeout: must be positive")
	}
	if c.Resolver != "" {
		if err := validateHostPort("-resolver", c.Resolver); err != nil {
			return err
		}
	}
	if err := c.validateSmarthost(); err != nil {
		return err
	}
	if _, err := c.slogLevel(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("-log-format: must be text or json, got %q", c.LogFormat)
	}
	return nil
}

// validateSmarthost checks the outbound settings. The choices are checked
// even with outbound delivery off, so a typo does not wait to bite until
// -smarthost is set.
func (c Config) validateSmarthost() error {
	switch c.SmarthostTLS {
	case "none", "starttls", "tls":
	default:
		return fmt.Errorf("-smarthost-tls: must be none, starttls or tls, got %q", c.SmarthostTLS)
	}
	switch c.SmarthostAuth {
	case "plain", "login":
	default:
		return fmt.Errorf("-smarthost-auth: must be plain or login, got %q", c.SmarthostAuth)
	}
	if c.SmarthostTimeout <= 0 {
		return errors.New("-smarthost-timeout: must be positive")
	}
	if c.Smarthost == "" {
		return nil
	}
	if err := validateHostPort("-smarthost", c.Smarthost); err != nil {
		return err
	}
	if c.SmarthostUser == "" && c.SmarthostPassword != "" {
		return errors.New("-smarthost-user: required when MAILGENT_RELAY_SMARTHOST_PASSWORD is set")
	}
	if c.SmarthostUser != "" && c.SmarthostPassword == "" {
		return errors.New("-smarthost-user: set, but MAILGENT_RELAY_SMARTHOST_PASSWORD is empty")
	}
	return nil
}

// validateHostPort checks that value is host:port with a port in 1-65535;
// the error names flag.
func validateHostPort(flag, value string) error {
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %v", flag, value, err)
	}
	if host == "" || strings.ContainsAny(host, " \t/@") {
		return fmt.Errorf("%s: %q has no valid host", flag, value)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: %q has an invalid port", flag, value)
	}
	return nil
}

func (c Config) slogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("-log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// NewLogger builds the relay's structured logger.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	level, _ := c.slogLevel()
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
