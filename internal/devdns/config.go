package devdns

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
)

// ResolvConf is where -forward system finds the system resolver.
const ResolvConf = "/etc/resolv.conf"

// Config is what cmd/mailgent-dns is told at start.
type Config struct {
	// Listen is the UDP and TCP address.
	Listen string
	// Forward is the upstream resolver, host:port, after "system" was
	// looked up; empty: unknown names are NXDOMAIN.
	Forward string
	// LogLevel is debug (one line per query), info, warn or error.
	LogLevel slog.Level
}

// ParseFlags fills a Config from the environment and then the command line.
// getenv is os.Getenv outside tests; resolvConf is ResolvConf.
func ParseFlags(args []string, getenv func(string) string, resolvConf string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("mailgent-dns", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "mailgent-dns: a DNS server for local development. Every name under .test and .localhost\n"+
			"(RFC 6761) is a mail sender that authorises loopback senders (SPF) and has a DMARC record;\n"+
			"other names are forwarded.\n\n")
		fs.PrintDefaults()
	}
	str := func(name, env, def, help string) *string {
		if v := getenv(env); v != "" {
			def = v
		}
		return fs.String(name, def, fmt.Sprintf("%s (env %s)", help, env))
	}
	listen := str("listen", "MAILGENT_DNS_LISTEN", "127.0.0.1:5354", "UDP and TCP listen address")
	forward := str("forward", "MAILGENT_DNS_FORWARD", "system",
		"where other names go: system (the first nameserver of "+resolvConf+"), none (NXDOMAIN), or host:port")
	level := str("log-level", "MAILGENT_LOG_LEVEL", "info", "debug (one line per query), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var cfg Config
	if err := ValidateHostPort(*listen); err != nil {
		return cfg, fmt.Errorf("-listen: %v", err)
	}
	// A name could stand for several addresses: UDP and TCP must bind one.
	if host, _, _ := net.SplitHostPort(*listen); net.ParseIP(host) == nil {
		return cfg, fmt.Errorf("-listen: %q: the host must be an IP address", *listen)
	}
	cfg.Listen = *listen
	fwd, err := ParseForward(*forward, resolvConf)
	if err != nil {
		return cfg, fmt.Errorf("-forward: %v", err)
	}
	cfg.Forward = fwd
	if err := cfg.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %q is not debug, info, warn or error", *level)
	}
	return cfg, nil
}

// Run serves the development rules (DevSenderZones) until ctx is done.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	s, err := Start(Options{Addr: cfg.Listen, Forward: cfg.Forward, SenderZones: DevSenderZones(), Logger: logger})
	if err != nil {
		return err
	}
	forward := cfg.Forward
	if forward == "" {
		forward = "none"
	}
	logger.Info("DNS server listening", "addr", s.Addr(), "sender_zones", ".test .localhost", "forward", forward)
	<-ctx.Done()
	logger.Info("shutting down")
	return s.Close()
}
