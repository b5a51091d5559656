package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailauth"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// sessionFactory is the go-smtp backend: one session per SMTP connection.
type sessionFactory struct{ s *Server }

func (f *sessionFactory) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, tls := c.TLSConnectionState()
	return &session{
		s:      f.s,
		remote: c.Conn().RemoteAddr().String(),
		helo:   c.Hostname(),
		tls:    tls,
		logger: f.s.logger.With("remote", c.Conn().RemoteAddr().String(), "helo", c.Hostname()),
	}, nil
}

// session knows the SMTP protocol; who is a live agent is the plugin's
// address directory's call, and storing mail is the bus's and the plugin's.
type session struct {
	s      *Server
	logger *slog.Logger
	remote string
	helo   string
	tls    bool
	from   string
	agents []string // accepted recipients, by agent name
}

// SMTP replies, in one place. Temporary failures are 4xx so senders retry:
// no mail is lost to a transient fault.
var (
	errNoSuchAgent  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such agent here"}
	errRelayDenied  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied: this server accepts mail only for its own domain"}
	errBadAddress   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errDirectory    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Address directory not available yet, try again later"}
	errUnregistered = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "This relay is not registered with its mail store yet, try again later"}
	errBus          = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, try again later"}
	errMailboxFull  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full: too much mail is waiting for this agent, try again later"}
	errBusFull      = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	errTooBig       = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for system"}
	errUnparseable  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message content rejected"}
	errLineTooLong  = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 6}, Message: "Line too long"}
	errNoRecipients = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
)

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.agents = "", nil
	if se := s.s.rates.allow(s.remote, from, s.helo); se != nil {
		s.logger.Info("sender deferred by a rate limit", "mail_from", from, "reply", se.Error())
		return se
	}
	s.from = from
	return nil
}

// Rcpt accepts only addresses in our domain, and of those only live agents.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr, err := mail.ParseAddress("<" + to + ">")
	if err != nil {
		return errBadAddress
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 || !strings.EqualFold(addr.Address[at+1:], s.s.cfg.Domain) {
		s.logger.Info("relay attempt refused", "rcpt", to)
		return errRelayDenied
	}
	agent := strings.ToLower(addr.Address[:at])
	live, ready := s.s.dir.lookup(agent)
	if !ready {
		s.logger.Warn("recipient deferred: directory not synced", "rcpt", to)
		return errDirectory
	}
	if !s.s.dir.registered(s.s.keyID) {
		// The plugin would refuse what this relay seals: defer, loudly.
		s.logger.Error("recipient deferred: this relay's key is not registered with the plugin (vault write <mount>/config/relays/<name> …)", "key_id", s.s.keyID)
		return errUnregistered
	}
	if !live {
		s.logger.Info("unknown recipient", "rcpt", to)
		return errNoSuchAgent
	}
	for _, a := range s.agents {
		if a == agent {
			return nil // the same agent twice: one copy
		}
	}
	s.agents = append(s.agents, agent)
	return nil
}

// Data reads the message, parses it, and answers 250 only once JetStream
// acknowledged a sealed copy for every recipient agent.
func (s *session) Data(r io.Reader) error {
	raw, err := readData(r)
	if err != nil {
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se):
			s.logger.Info("message refused", "reply", se.Error())
			return se // go-smtp's own, e.g. the size limit (552 5.3.4)
		case errors.Is(err, smtp.ErrTooLongLine):
			s.logger.Info("message refused: line too long", "max_line_length", s.s.cfg.MaxLineLength)
			return errLineTooLong
		}
		s.logger.Warn("reading DATA failed", "error", err)
		return errBus
	}
	if len(s.agents) == 0 {
		return errNoRecipients
	}
	// No parsing or DNS work for a message that must be deferred anyway.
	pub := s.s.dir.publicKey()
	js, obs := s.s.bus()
	if pub == nil || js == nil {
		s.logger.Warn("message deferred: bus or public key not ready")
		return errBus
	}

	msg, err := mailparse.Parse(raw, s.s.limits)
	if err != nil {
		var le *mailparse.LimitError
		if errors.As(err, &le) {
			s.logger.Info("message refused by a parser limit", "error", err)
			code, enhanced := le.SMTPStatus() // 552 5.3.4 headers, 554 5.6.0 structure
			var ec smtp.EnhancedCode
			_, _ = fmt.Sscanf(enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2])
			return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: "Message exceeds limits: " + le.Error()}
		}
		s.logger.Info("unparseable message refused", "error", err)
		return errUnparseable
	}
	msg.ReceivedAt = time.Now().UTC()
	msg.Envelope = mailmsg.Envelope{MailFrom: s.from, RemoteAddr: s.remote, Helo: s.helo, TLS: s.tls}
	msg.SenderDomain = domain.OfAddress(msg.FromAddress)
	msg.Auth = s.s.verifySender(raw, s.from, s.helo, s.remote, msg.SenderDomain)
	msg.Trust, msg.TrustReason = s.s.verdict(msg)

	ids := make([]string, 0, len(s.agents))
	for _, agent := range s.agents {
		m := *msg
		m.ID = bus.MessageID(s.s.cfg.Domain, agent, raw)
		// Each agent's copy names only that agent: no agent learns who
		// else (Bcc included) received the message.
		m.Envelope.RcptTo = []string{agent + "@" + s.s.cfg.Domain}
		p, err := bus.NewPayload(&m, raw)
		if err != nil {
			s.logger.Error("marshal message", "error", err)
			return errBus
		}
		sealed, err := s.s.sealer.Seal(pub, s.s.cfg.Domain, agent, p)
		if err != nil {
			s.logger.Error("seal message", "error", err)
			return errBus
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.s.cfg.PublishTimeout)
		dup, err := bus.Publish(ctx, js, obs, s.s.cfg.Domain, agent, m.ID, sealed)
		cancel()
		if err != nil {
			s.logger.Warn("publish failed; sender will retry", "agent", agent, "error", err)
			return publishReply(err)
		}
		if dup {
			s.logger.Info("duplicate message (a retry); stored once", "agent", agent, "id", m.ID)
		}
		ids = append(ids, m.ID)
	}
	s.logger.Info("message accepted", "from", s.from, "agents", s.agents, "size", len(raw), "ids", ids)
	return nil
}

// publishReply is the temporary reply to a failed publish: a full bus is
// told apart from a fault, so the sender's log says why.
func publishReply(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, bus.ErrAgentBacklog):
		return errMailboxFull
	case errors.Is(err, bus.ErrBusFull):
		return errBusFull
	}
	return errBus
}

// readData reads the message into a buffer sized for most mail at once:
// io.ReadAll starts at 512 bytes and copies the message at every doubling.
func readData(r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, 32<<10))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (s *session) Reset() {
	s.from, s.agents = "", nil
}

func (s *session) Logout() error { return nil }

const authDisabled = "sender authentication disabled on this relay"

// verifySender runs DKIM, SPF and DMARC within the configured budget, or
// records that it was not done. fromDomain is the normalised sender domain.
func (srv *Server) verifySender(raw []byte, mailFrom, helo, remote, fromDomain string) mailmsg.AuthResults {
	if srv.resolver == nil {
		return mailmsg.AuthResults{
			DKIM:  []mailmsg.DKIMResult{{Result: "none", Error: authDisabled}},
			SPF:   mailmsg.SPFResult{Result: "none", Error: authDisabled},
			DMARC: mailmsg.DMARCResult{Result: "none", Error: authDisabled},
		}
	}
	host, _, _ := net.SplitHostPort(remote)
	ctx, cancel := context.WithTimeout(context.Background(), srv.cfg.AuthTimeout)
	defer cancel()
	return mailauth.Verify(ctx, srv.resolver, mailauth.Input{
		Raw: raw, MailFrom: mailFrom, Helo: helo, RemoteIP: net.ParseIP(host), FromDomain: fromDomain,
	})
}

// verdict is the message's sender trust: never verified by a relay that
// did not check.
func (srv *Server) verdict(msg *mailmsg.Message) (trust, reason string) {
	if srv.resolver == nil {
		return mailmsg.TrustUnverified, authDisabled
	}
	return mailauth.Verdict(msg.SenderDomain, msg.Auth)
}
