package relay

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// The SMTP session knows the protocol: who may hand us mail (rate limits),
// which addresses are ours, and when to answer what. Whether an agent is
// live, and getting its mail to the plugin, is the delivery's part
// (delivery.go); what each failure is answered with is replies.go's.

// sessionFactory is the go-smtp backend: one session per SMTP connection.
type sessionFactory struct{ s *Server }

func (f *sessionFactory) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, tls := c.TLSConnectionState()
	remote := c.Conn().RemoteAddr().String()
	f.s.metrics.sessions.Inc()
	f.s.metrics.sessionsTotal.Inc()
	return &session{
		target: f.s,
		m:      f.s.metrics,
		rates:  f.s.rates,
		domain: f.s.cfg.Domain,
		conn:   mailmsg.Envelope{RemoteAddr: remote, Helo: c.Hostname(), TLS: tls},
		logger: f.s.logger.With("remote", remote, "helo", c.Hostname()),
	}, nil
}

// session is one SMTP connection. go-smtp calls Mail before Rcpt and Data
// (it answers 502 itself otherwise), so a transaction always has its
// delivery.
type session struct {
	target deliveryTarget
	m      *metrics
	rates  *rateLimits
	domain string
	logger *slog.Logger
	// conn is the envelope's part the connection sets: remote address,
	// HELO, TLS.
	conn mailmsg.Envelope

	// d is the current transaction's delivery, from MAIL FROM on.
	d delivery
}

// Mail starts a transaction, unless the sender's rate limits defer it.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	return s.m.reply("mail", s.mail(from))
}

func (s *session) mail(from string) error {
	s.Reset()
	if err := s.rates.allow(s.conn.RemoteAddr, from, s.conn.Helo); err != nil {
		r := reply(err)
		s.logger.Info("sender deferred by a rate limit", "mail_from", from, "reply", r.Error())
		return r
	}
	env := s.conn
	env.MailFrom = from
	s.d = s.target.startDelivery(env, s.logger)
	return nil
}

// Rcpt accepts only addresses in the served domain; which of those are
// live agents the delivery tells.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	return s.m.reply("rcpt", s.rcpt(to))
}

func (s *session) rcpt(to string) error {
	agent, err := s.agentOf(to)
	if err == nil {
		err = s.d.addRcpt(agent)
	}
	if err != nil {
		return reply(err)
	}
	return nil
}

// agentOf returns the agent name of an address in the served domain.
func (s *session) agentOf(to string) (string, error) {
	addr, err := mail.ParseAddress("<" + to + ">")
	if err != nil {
		return "", errBadAddress
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 || !strings.EqualFold(addr.Address[at+1:], s.domain) {
		s.logger.Info("relay attempt refused", "rcpt", to)
		return "", errNotOurDomain
	}
	return strings.ToLower(addr.Address[:at]), nil
}

// Data reads the message and hands it to the delivery. It answers 250 only
// once the delivery committed it: JetStream acknowledged a sealed copy for
// every recipient agent.
func (s *session) Data(r io.Reader) error {
	return s.m.reply("data", s.data(r))
}

func (s *session) data(r io.Reader) error {
	raw, err := readData(r)
	if err != nil {
		return reply(s.readFailed(err))
	}
	if err := s.d.body(raw); err != nil {
		return reply(err)
	}
	if err := s.d.commit(); err != nil {
		return reply(err)
	}
	return nil
}

// readFailed logs why DATA could not be read and returns what to answer
// for it: go-smtp's limits (the message size, the line length) as they
// are; anything else (the connection) as temporary.
func (s *session) readFailed(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		s.logger.Info("message refused", "reply", se.Error())
		return err
	case errors.Is(err, smtp.ErrTooLongLine):
		s.logger.Info("message refused: line too long")
		return err
	}
	s.logger.Warn("reading DATA failed", "error", err)
	return temporary(err)
}

// readData reads the message into a buffer sized for most mail at once:
// io.ReadAll starts at 512 bytes and copies the message at every doubling.
func readData(r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, 32<<10))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// Reset ends the transaction: its delivery, which has published nothing
// before commit, is dropped.
func (s *session) Reset() { s.d = nil }

func (s *session) Logout() error {
	s.m.sessions.Dec()
	return nil
}
