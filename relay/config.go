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
	"github.com/mailgent/mailgent/internal/webhook"
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
	// DNSCacheEntries is how many DNS answers the relay keeps (0: none);
	// DNSCacheMaxTTL caps how long one is kept (its own TTL, when shorter,
	// decides).
	DNSCacheEntries int
	DNSCacheMaxTTL  time.Duration
	// MetricsListen (host:port), when set, serves Prometheus metrics at
	// /metrics there.
	MetricsListen string

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

	// Webhooks turns webhook delivery on (default): the relay POSTs the
	// plugin's webhook events. WebhookRetry is the delay before each retry
	// (webhook.ParseSchedule); WebhookTimeout bounds one attempt.
	Webhooks       bool
	WebhookRetry   string
	WebhookTimeout time.Duration

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
		DNSCacheEntries:     10_000,
		DNSCacheMaxTTL:      5 * time.Minute,
		SmarthostTLS:        "starttls",
		SmarthostAuth:       "plain",
		SmarthostTimeout:    30 * time.Second,
		Webhooks:            true,
		WebhookRetry:        webhook.DefaultSchedule().String(),
		WebhookTimeout:      10 * time.Second,
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

// setting is one of the relay's settings: its flag, its environment
// variable, its help text and where its value goes (*string, *int, *int64,
// *bool or *time.Duration). A secret (flag "") comes from the environment
// only: a flag would show in ps.
type setting struct {
	flag, env, help string
	value           any
}

// settings are the relay's settings, in the order of their help. A flag
// wins over the environment, which wins over the default.
func (c *Config) settings() []setting {
	return []setting{
		{"listen", "MAILGENT_RELAY_LISTEN", "SMTP listen address", &c.ListenAddr},
		{"domain", "MAILGENT_DOMAIN", "mail domain served (required)", &c.Domain},
		{"hostname", "MAILGENT_RELAY_HOSTNAME", "host name in the SMTP greeting (default: the domain)", &c.Hostname},
		{"nats-url", "MAILGENT_NATS_URL", "NATS URL or comma-separated list", &c.NATS.URL},
		{"nats-user", "MAILGENT_NATS_USER", "NATS user", &c.NATS.Username},
		{"nats-ca-file", "MAILGENT_NATS_CA_FILE", "PEM CA certificate of the NATS servers: the bus is then TLS, verified", &c.NATSCAFile},
		{"nats-allow-plaintext", "MAILGENT_NATS_ALLOW_PLAINTEXT", "allow a plain-text nats:// URL to a host that is not loopback", &c.NATS.AllowPlaintext},
		{"key-file", "MAILGENT_RELAY_KEY_FILE", "this relay's key file, made on first start (required; register it: -print-registration)", &c.KeyFile},
		{"", "MAILGENT_NATS_PASSWORD", "", &c.NATS.Password},
		{"max-message-bytes", "MAILGENT_RELAY_MAX_MESSAGE_BYTES", "largest message accepted, in bytes", &c.MaxMessageBytes},
		{"max-recipients", "MAILGENT_RELAY_MAX_RECIPIENTS", "most recipients per message", &c.MaxRecipients},
		{"max-line-length", "MAILGENT_RELAY_MAX_LINE_LENGTH", "longest line accepted, in bytes", &c.MaxLineLength},
		{"read-timeout", "MAILGENT_RELAY_READ_TIMEOUT", "timeout of each network read", &c.ReadTimeout},
		{"write-timeout", "MAILGENT_RELAY_WRITE_TIMEOUT", "timeout of each network write", &c.WriteTimeout},
		{"max-sessions-per-ip", "MAILGENT_RELAY_MAX_SESSIONS_PER_IP", "most concurrent sessions per client IP", &c.MaxSessionsPerIP},
		{"rate-per-ip", "MAILGENT_RELAY_RATE_PER_IP", "messages per minute one client IP may send (burst as many; 0: no limit)", &c.RatePerIP},
		{"rate-per-sender-domain", "MAILGENT_RELAY_RATE_PER_SENDER_DOMAIN", "messages per minute one sender domain (MAIL FROM) may send (burst as many; 0: no limit)", &c.RatePerSenderDomain},
		{"tls-cert", "MAILGENT_RELAY_TLS_CERT", "PEM certificate file; enables STARTTLS with -tls-key", &c.TLSCertFile},
		{"tls-key", "MAILGENT_RELAY_TLS_KEY", "PEM private key file", &c.TLSKeyFile},
		{"shutdown-timeout", "MAILGENT_RELAY_SHUTDOWN_TIMEOUT", "how long open sessions may finish on shutdown", &c.ShutdownTimeout},
		{"publish-timeout", "MAILGENT_RELAY_PUBLISH_TIMEOUT", "how long to wait for JetStream before answering 451", &c.PublishTimeout},
		{"sender-auth", "MAILGENT_RELAY_SENDER_AUTH", "check DKIM, SPF and DMARC of inbound mail, asking -resolver or the system resolver", &c.SenderAuth},
		{"metrics-listen", "MAILGENT_RELAY_METRICS_LISTEN", "host:port to serve Prometheus metrics on, at /metrics (empty: not served)", &c.MetricsListen},
		{"resolver", "MAILGENT_RELAY_RESOLVER", "host:port of the DNS server for the DKIM, SPF and DMARC lookups, e.g. a test or `make dev` DNS server that publishes local senders' records (empty: the system resolver)", &c.Resolver},
		{"dns-cache-entries", "MAILGENT_RELAY_DNS_CACHE_ENTRIES", "DNS answers of the sender authentication kept for their TTL (0: no cache)", &c.DNSCacheEntries},
		{"dns-cache-max-ttl", "MAILGENT_RELAY_DNS_CACHE_MAX_TTL", "longest a DNS answer is kept, whatever its TTL", &c.DNSCacheMaxTTL},
		{"auth-timeout", "MAILGENT_RELAY_AUTH_TIMEOUT", "time budget of the sender authentication checks", &c.AuthTimeout},
		{"smarthost", "MAILGENT_RELAY_SMARTHOST", "host:port outbound mail is delivered to (empty: outbound delivery off)", &c.Smarthost},
		{"smarthost-tls", "MAILGENT_RELAY_SMARTHOST_TLS", "none, starttls or tls (implicit TLS)", &c.SmarthostTLS},
		{"smarthost-user", "MAILGENT_RELAY_SMARTHOST_USER", "smarthost AUTH user (password: env MAILGENT_RELAY_SMARTHOST_PASSWORD)", &c.SmarthostUser},
		{"", "MAILGENT_RELAY_SMARTHOST_PASSWORD", "", &c.SmarthostPassword},
		{"smarthost-auth", "MAILGENT_RELAY_SMARTHOST_AUTH", "SASL mechanism, plain or login (used when -smarthost-user is set)", &c.SmarthostAuth},
		{"smarthost-insecure-skip-verify", "MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY", "do not verify the smarthost's TLS certificate; tests and development only", &c.SmarthostInsecureSkipVerify},
		{"smarthost-timeout", "MAILGENT_RELAY_SMARTHOST_TIMEOUT", "timeout of connecting and of each step of a delivery to the smarthost", &c.SmarthostTimeout},
		{"webhooks", "MAILGENT_RELAY_WEBHOOKS", "deliver the plugin's webhook events", &c.Webhooks},
		{"webhook-retry", "MAILGENT_RELAY_WEBHOOK_RETRY", "delays before each webhook retry, the last repeated until the event is a day old", &c.WebhookRetry},
		{"webhook-timeout", "MAILGENT_RELAY_WEBHOOK_TIMEOUT", "timeout of one webhook delivery attempt", &c.WebhookTimeout},
		{"log-level", "MAILGENT_LOG_LEVEL", "debug, info, warn or error", &c.LogLevel},
		{"log-format", "MAILGENT_LOG_FORMAT", "text or json", &c.LogFormat},
	}
}

// fromEnv sets the setting from its environment variable, when set; the
// error names the variable.
func (s setting) fromEnv(getenv func(string) string) error {
	v := getenv(s.env)
	if v == "" {
		return nil
	}
	var err error
	var kind string
	switch p := s.value.(type) {
	case *string:
		*p = v
	case *int:
		kind = "an integer"
		*p, err = strconv.Atoi(v)
	case *int64:
		kind = "an integer"
		*p, err = strconv.ParseInt(v, 10, 64)
	case *bool:
		kind = "a boolean"
		*p, err = strconv.ParseBool(v)
	case *time.Duration:
		kind = "a duration"
		*p, err = time.ParseDuration(v)
	}
	if err != nil {
		return fmt.Errorf("%s: %q is not %s", s.env, v, kind)
	}
	return nil
}

// define registers the setting's flag, its default the value so far.
func (s setting) define(fs *flag.FlagSet) {
	help := fmt.Sprintf("%s (env %s)", s.help, s.env)
	switch p := s.value.(type) {
	case *string:
		fs.StringVar(p, s.flag, *p, help)
	case *int:
		fs.IntVar(p, s.flag, *p, help)
	case *int64:
		fs.Int64Var(p, s.flag, *p, help)
	case *bool:
		fs.BoolVar(p, s.flag, *p, help)
	case *time.Duration:
		fs.DurationVar(p, s.flag, *p, help)
	}
}

// ParseFlags fills a Config from the environment and then the command line.
// getenv is os.Getenv outside tests.
func ParseFlags(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("mailgent-relay", flag.ContinueOnError)
	fs.SetOutput(usage)
	var envErrs []error
	for _, s := range cfg.settings() {
		if err := s.fromEnv(getenv); err != nil {
			envErrs = append(envErrs, err)
		}
		if s.flag != "" {
			s.define(fs)
		}
	}
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
	if c.MetricsListen != "" {
		if err := validateHostPort("-metrics-listen", c.MetricsListen); err != nil {
			return err
		}
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
	if err := c.validateSenderAuth(); err != nil {
		return err
	}
	if err := c.validateSmarthost(); err != nil {
		return err
	}
	if err := c.validateWebhooks(); err != nil {
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

// validateWebhooks checks the webhook settings, on or off.
func (c Config) validateWebhooks() error {
	if _, err := webhook.ParseSchedule(c.WebhookRetry); err != nil {
		return fmt.Errorf("-webhook-retry: %v", err)
	}
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > bus.WebhookAckWait/2 {
		return fmt.Errorf("-webhook-timeout: must be between 1s and %s, got %s", bus.WebhookAckWait/2, c.WebhookTimeout)
	}
	return nil
}

// validateSenderAuth checks the settings of sender authentication and its
// DNS lookups.
func (c *Config) validateSenderAuth() error {
	if c.SenderAuth && c.AuthTimeout <= 0 {
		return errors.New("-auth-timeout: must be positive")
	}
	if c.DNSCacheEntries < 0 || c.DNSCacheEntries > 10_000_000 {
		return errors.New("-dns-cache-entries: must be 0 to 10000000")
	}
	if c.DNSCacheEntries > 0 && (c.DNSCacheMaxTTL < time.Second || c.DNSCacheMaxTTL > 24*time.Hour) {
		return errors.New("-dns-cache-max-ttl: must be 1s to 24h")
	}
	if c.Resolver != "" {
		return validateHostPort("-resolver", c.Resolver)
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
