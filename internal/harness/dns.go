package harness

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/smtp"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailgent/mailgent/internal/devdns"
)

// DNS is a real DNS server on a loopback port (UDP and TCP), run in the
// test process; relays started by the harness send their DKIM, SPF and
// DMARC lookups to it. It knows only the names a test adds (Sender, or the
// devdns setters): every other name is NXDOMAIN at once, so mail from an
// unknown domain is simply unverified and never waits on the network.
type DNS struct {
	*devdns.Server
	// Addr is host:port, for the relay's -resolver.
	Addr string
}

// StartDNS starts a DNS server for one test; it stops with the test.
func StartDNS(tb testing.TB) *DNS {
	tb.Helper()
	s, err := devdns.Start(devdns.Options{})
	if err != nil {
		tb.Fatalf("DNS server: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("DNS server close: %v", err)
		}
	})
	return &DNS{Server: s, Addr: s.Addr()}
}

// DefaultSenderSPF authorises 127.0.0.1, where test clients connect from
// unless they bind another loopback address.
const DefaultSenderSPF = "v=spf1 ip4:127.0.0.1 -all"

// DefaultSelector is a test sender's DKIM selector unless set.
const DefaultSelector = "mailgent-test"

// SenderOptions shape a test sender's DNS records. The zero value is a
// domain that signs with DKIM, allows 127.0.0.1 by SPF and has a DMARC
// policy of reject: its mail is verified.
type SenderOptions struct {
	// Selector of the DKIM key; default DefaultSelector.
	Selector string
	// SPF record; default DefaultSenderSPF. E.g. "v=spf1 ip4:127.0.0.9
	// -all" makes mail from 127.0.0.1 come from an IP outside its SPF.
	SPF string
	// NoSPF publishes no SPF record.
	NoSPF bool
	// DMARC record; default "v=DMARC1; p=reject".
	DMARC string
	// NoDMARC publishes no DMARC record: a domain without a policy.
	NoDMARC bool
}

// Sender is a mail domain whose DKIM key, SPF and DMARC records the test
// DNS serves.
type Sender struct {
	// Domain is the sender's domain, as given.
	Domain string
	// Selector is the DKIM selector its key is published under.
	Selector string
	// Key is its DKIM signing key (RSA 2048, fresh per sender).
	Key *rsa.PrivateKey

	tb testing.TB
}

// Sender creates a test sender: a fresh DKIM key published at
// <selector>._domainkey.<domain>, and the domain's SPF and DMARC records
// as o says. The server is authoritative for domain from now on: names
// under it that the sender did not publish are NXDOMAIN.
func (d *DNS) Sender(tb testing.TB, domain string, o SenderOptions) *Sender {
	tb.Helper()
	if o.Selector == "" {
		o.Selector = DefaultSelector
	}
	if o.SPF == "" {
		o.SPF = DefaultSenderSPF
	}
	if o.DMARC == "" {
		o.DMARC = devdns.RejectDMARC
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("DKIM key: %v", err)
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("test sender %s: %v", domain, err)
		}
	}
	must(d.AddZone(domain))
	must(d.SetDKIMKey(domain, o.Selector, key.Public()))
	if !o.NoSPF {
		must(d.SetTXT(domain, o.SPF))
	}
	if !o.NoDMARC {
		must(d.SetTXT("_dmarc."+domain, o.DMARC))
	}
	return &Sender{Domain: domain, Selector: o.Selector, Key: key, tb: tb}
}

// Address is local@domain, e.g. Address("noreply").
func (s *Sender) Address(local string) string { return local + "@" + s.Domain }

// SignedHeaders are the header fields Sign signs (an absent one is signed
// as absent, so adding it later breaks the signature).
var SignedHeaders = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}

// Sign returns raw with lone LFs made CRLF, as SMTP carries it, and a
// DKIM-Signature of the sender's domain on top (relaxed/relaxed, rsa-sha256).
func (s *Sender) Sign(raw []byte) []byte {
	s.tb.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(crlf(raw)), &dkim.SignOptions{
		Domain:                 s.Domain,
		Selector:               s.Selector,
		Signer:                 s.Key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             SignedHeaders,
	})
	if err != nil {
		s.tb.Fatalf("DKIM sign for %s: %v", s.Domain, err)
	}
	return out.Bytes()
}

func crlf(raw []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// SendMail delivers raw to the SMTP server at addr, connecting from the
// loopback address src (nil: 127.0.0.1) — Linux routes all of 127/8 to lo,
// so a test can send from an IP outside a sender's SPF.
func SendMail(addr string, src net.IP, helo, from string, to []string, raw []byte) error {
	if src == nil {
		src = net.IPv4(127, 0, 0, 1)
	}
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
