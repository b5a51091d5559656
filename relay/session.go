package relay

import (
	"io"
	"log/slog"
	"net/mail"
	"strings"

	"github.com/emersion/go-smtp"
)

// sessionFactory is the go-smtp backend: one session per SMTP connection.
type sessionFactory struct{ s *Server }

func (f *sessionFactory) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{
		s:      f.s,
		logger: f.s.logger.With("remote", c.Conn().RemoteAddr().String(), "helo", c.Hostname()),
	}, nil
}

// session knows the SMTP protocol; it never decides who is a live agent on
// its own (that is the plugin's address directory).
type session struct {
	s      *Server
	logger *slog.Logger
	from   string
	rcpts  []string
}

var (
	errNoSuchAgent = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such agent here"}
	errRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied: this server accepts mail only for its own domain"}
	errBadAddress  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errNoDelivery  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Inbound delivery is not available, try again later"}
)

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

// Rcpt accepts only addresses in our domain, and of those only live agents.
// The address directory is not wired yet, so every local address is
// refused as unknown: the relay is never an open relay.
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
	s.logger.Info("unknown recipient", "rcpt", to)
	return errNoSuchAgent
}

func (s *session) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return errNoDelivery
}

func (s *session) Reset() {
	s.from, s.rcpts = "", nil
}

func (s *session) Logout() error { return nil }
