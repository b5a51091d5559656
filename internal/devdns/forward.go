package devdns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// forwarder sends the questions no local data answers to an upstream
// resolver.
type forwarder struct {
	addr    string
	timeout time.Duration
}

// exchange forwards req over UDP, and over TCP when the answer was
// truncated. An upstream that fails or does not answer in time is
// SERVFAIL, which resolvers treat as temporary.
func (f *forwarder) exchange(req *dns.Msg, logger *slog.Logger) *dns.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	c := &dns.Client{Net: "udp"}
	resp, _, err := c.ExchangeContext(ctx, req.Copy(), f.addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, req.Copy(), f.addr)
	}
	if err != nil {
		logger.Warn("upstream resolver failed; answering SERVFAIL", "upstream", f.addr, "name", req.Question[0].Name, "error", err)
		m := new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		return m
	}
	resp.Id = req.Id
	return resp
}

// ParseForward turns the -forward setting into an upstream address:
// "system" is the first nameserver of resolvConf (/etc/resolv.conf),
// "none" or empty is no forwarding (""), anything else must be host:port.
func ParseForward(value, resolvConf string) (string, error) {
	switch value {
	case "", "none":
		return "", nil
	case "system":
		cfg, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return "", fmt.Errorf("system resolver: %w", err)
		}
		if len(cfg.Servers) == 0 {
			return "", fmt.Errorf("system resolver: no nameserver in %s", resolvConf)
		}
		return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
	}
	if err := ValidateHostPort(value); err != nil {
		return "", err
	}
	return value, nil
}

// ValidateHostPort checks that hp is host:port with a host and a port in
// 1-65535.
func ValidateHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", hp, err)
	}
	if host == "" || strings.ContainsAny(host, " \t/@") {
		return fmt.Errorf("%q has no valid host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", hp)
	}
	return nil
}
