// Package devdns is a small authoritative DNS server for tests and local
// development, so the relay's DKIM, SPF and DMARC checks run against real
// DNS over UDP and TCP instead of being switched off. It answers from an
// in-memory record set (TXT, A, AAAA, MX) that may change while it serves,
// from rule-based sender zones (every name under .test publishing SPF and
// DMARC, say), and for every other name either NXDOMAIN at once or whatever
// an upstream resolver says.
package devdns

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultForwardTimeout bounds one forwarded query.
const DefaultForwardTimeout = 2 * time.Second

// Options configure Start.
type Options struct {
	// Addr is the UDP and TCP listen address; default 127.0.0.1:0 (a free
	// port, read it back with Server.Addr).
	Addr string
	// Forward is the upstream resolver (host:port) for names no record,
	// sender zone or served zone covers; empty answers them NXDOMAIN, so a
	// test never waits on the network.
	Forward string
	// ForwardTimeout bounds one forwarded query; default DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// SenderZones are served by rule (see SenderZone).
	SenderZones []SenderZone
	// Logger gets one debug line per query; nil discards.
	Logger *slog.Logger
}

// Server is a running DNS server on one address, UDP and TCP.
type Server struct {
	addr    string
	forward *forwarder // nil: NXDOMAIN for unknown names
	records *records
	logger  *slog.Logger
	udp     *dns.Server
	tcp     *dns.Server
	done    chan error // one result per dns.Server
}

// Start listens on o.Addr and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.ForwardTimeout <= 0 {
		o.ForwardTimeout = DefaultForwardTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	recs, err := newRecords(o.SenderZones)
	if err != nil {
		return nil, err
	}
	s := &Server{records: recs, logger: o.Logger, done: make(chan error, 2)}
	if o.Forward != "" {
		if err := ValidateHostPort(o.Forward); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		s.forward = &forwarder{addr: o.Forward, timeout: o.ForwardTimeout}
	}
	pc, l, err := listen(o.Addr)
	if err != nil {
		return nil, err
	}
	s.addr = l.Addr().String()
	if s.forward != nil && s.forward.addr == s.addr {
		pc.Close()
		l.Close()
		return nil, fmt.Errorf("forward: %s is this server's own address", s.addr)
	}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	s.serve(s.udp)
	s.serve(s.tcp)
	return s, nil
}

// serve runs srv and returns once it accepts queries, so Close right after
// Start cannot find it "not started".
func (s *Server) serve(srv *dns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { s.done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-s.done:
		s.done <- err // Close reports it
	}
}

// listen binds UDP and TCP on the same address; with port 0 it retries
// until the kernel's UDP port is also free for TCP.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		bound := net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port))
		l, err := net.Listen("tcp", bound)
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", bound, err)
		}
	}
	return nil, nil, fmt.Errorf("listen %s: no port free for both UDP and TCP", addr)
}

// Addr is the bound address, host:port, the same for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops serving and waits for both listeners to end.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := []error{s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx)}
	for range 2 {
		select {
		case err := <-s.done:
			errs = append(errs, err)
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// AddZone makes the server authoritative for zone: a name under it that
// has no records is NXDOMAIN, never forwarded.
func (s *Server) AddZone(zone string) error { return s.records.addZone(zone) }

// SetTXT replaces the TXT records of name, one record per text; a text
// longer than 255 bytes is split into several strings of one record, as
// DKIM keys are published. No texts deletes them.
func (s *Server) SetTXT(name string, texts ...string) error {
	rrs := make([]dns.RR, len(texts))
	for i, t := range texts {
		rrs[i] = newTXT(name, t)
	}
	return s.records.set(name, dns.TypeTXT, rrs)
}

// SetIP replaces the A and AAAA records of name with ips. No ips deletes
// both.
func (s *Server) SetIP(name string, ips ...net.IP) error {
	var a, aaaa []dns.RR
	for _, ip := range ips {
		switch {
		case ip.To4() != nil:
			a = append(a, newIP(name, ip))
		case ip.To16() != nil:
			aaaa = append(aaaa, newIP(name, ip))
		default:
			return fmt.Errorf("name %q: %v is not an IP address", name, ip)
		}
	}
	if err := s.records.set(name, dns.TypeA, a); err != nil {
		return err
	}
	return s.records.set(name, dns.TypeAAAA, aaaa)
}

// SetMX replaces the MX records of name. No mxs deletes them.
func (s *Server) SetMX(name string, mxs ...*net.MX) error {
	rrs := make([]dns.RR, len(mxs))
	for i, mx := range mxs {
		host, err := canonical(mx.Host)
		if err != nil {
			return fmt.Errorf("MX of %q: %w", name, err)
		}
		rrs[i] = &dns.MX{Hdr: header(name, dns.TypeMX), Preference: mx.Pref, Mx: host}
	}
	return s.records.set(name, dns.TypeMX, rrs)
}

// ServeDNS answers one query: from the record set and sender zones, else
// by forwarding, else NXDOMAIN. It implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	source := "local"
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.SetRcode(req, dns.RcodeNotImplemented)
	case len(req.Question) != 1:
		m.SetRcode(req, dns.RcodeFormatError)
	default:
		m, source = s.resolve(req)
	}
	if len(req.Question) == 1 {
		q := req.Question[0]
		s.logger.Debug("query", "name", q.Name, "type", dns.TypeToString[q.Qtype],
			"net", w.RemoteAddr().Network(), "source", source, "rcode", dns.RcodeToString[m.Rcode], "answers", len(m.Answer))
	}
	writeReply(w, req, m)
}

// resolve answers the single question of req, and says where from.
func (s *Server) resolve(req *dns.Msg) (*dns.Msg, string) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return m.SetRcode(req, dns.RcodeRefused), "local"
	}
	rrs, out := s.records.lookup(name, q.Qtype)
	switch {
	case out == found:
		m.SetReply(req)
		m.Answer = rrs
	case out == nxdomain || s.forward == nil:
		m.SetRcode(req, dns.RcodeNameError)
	default:
		return s.forward.exchange(req, s.logger), "forward"
	}
	// Go's resolver takes an empty answer that is neither authoritative nor
	// recursive for a lame referral, not for "no such record".
	m.Authoritative = true
	if len(m.Answer) == 0 {
		// A negative answer carries an SOA whose TTL and minimum say how
		// long a resolver may cache it (RFC 2308): TTL, like the records.
		m.Ns = []dns.RR{negativeSOA(name)}
	}
	m.RecursionAvailable = s.forward != nil
	return m, "local"
}

// negativeSOA is the SOA of a negative answer for name, owned by name's
// last two labels (the server knows no zone cuts).
func negativeSOA(name string) *dns.SOA {
	labels := dns.SplitDomainName(name)
	zone := "."
	if len(labels) > 0 {
		zone = dns.Fqdn(strings.Join(labels[max(0, len(labels)-2):], "."))
	}
	return &dns.SOA{Hdr: header(zone, dns.TypeSOA), Ns: "ns.devdns.invalid.", Mbox: "hostmaster.devdns.invalid.",
		Serial: 1, Refresh: TTL, Retry: TTL, Expire: TTL, Minttl: TTL}
}

// writeReply fits m to what the client can take: over UDP 512 bytes, or
// the EDNS0 size it advertised; too large sets TC, so it retries over TCP.
func writeReply(w dns.ResponseWriter, req, m *dns.Msg) {
	size := dns.MaxMsgSize
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if m.IsEdns0() == nil {
			m.SetEdns0(udpSize, false)
		}
		if size == dns.MinMsgSize {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

// udpSize is the EDNS0 UDP payload size this server advertises (the DNS
// flag day 2020 value, as Go's resolver uses).
const udpSize = 1232

// DKIMRecord is the DKIM key record (RFC 6376 section 3.6.1) of an RSA or
// Ed25519 public key.
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("DKIM key: unsupported type %T", pub)
}

// SetDKIMKey publishes pub as <selector>._domainkey.<domain>.
func (s *Server) SetDKIMKey(domain, selector string, pub crypto.PublicKey) error {
	rec, err := DKIMRecord(pub)
	if err != nil {
		return err
	}
	return s.SetTXT(selector+"._domainkey."+domain, rec)
}
