package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailgent/mailgent/internal/bus"
)

// The SMTP client side of outbound mail: one message, one connection to
// the configured smarthost, one transaction. Failures are classified here
// (isPermanent) for the outbound state machine (outbound.go).

// replyFactor: the smarthost's reply to the message body may take this
// many times -smarthost-timeout (it may scan the message first).
const replyFactor = 3

// smarthost delivers one message per connection to the configured
// smarthost.
type smarthost struct {
	addr      string
	mode      string // none, starttls, tls
	tlsConfig *tls.Config
	user      string
	password  string
	mech      string // plain, login
	helo      string
	timeout   time.Duration
}

func newSmarthost(cfg Config) *smarthost {
	host, _, _ := net.SplitHostPort(cfg.Smarthost)
	helo := cfg.Hostname
	if helo == "" {
		helo = cfg.Domain
	}
	return &smarthost{
		addr: cfg.Smarthost,
		mode: cfg.SmarthostTLS,
		tlsConfig: &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: cfg.SmarthostInsecureSkipVerify, //nolint:gosec // an explicit, documented dev/test switch
			MinVersion:         tls.VersionTLS12,
		},
		user:     cfg.SmarthostUser,
		password: cfg.SmarthostPassword,
		mech:     cfg.SmarthostAuth,
		helo:     helo,
		timeout:  cfg.SmarthostTimeout,
	}
}

// deliver sends one message in one SMTP transaction and returns the
// smarthost's final reply ("250 2.0.0 Ok: queued as …"), in steps:
//
//  1. check the envelope (checkEnvelope): what no smarthost could take
//  2. connect (dial), TLS as configured
//  3. EHLO and AUTH (greet)
//  4. MAIL FROM and RCPT TO (envelope): recipients the smarthost refuses
//     with 5xx are skipped and listed in the reply, as long as one was
//     accepted; a 4xx to any recipient abandons the transaction before
//     DATA (a temporary error), so a retry never reaches anyone twice
//  5. DATA (data), then QUIT
//
// Classify a returned error with isPermanent.
func (h *smarthost) deliver(ctx context.Context, o *bus.Outbound) (string, error) {
	if err := checkEnvelope(o); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, tc, err := h.dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := h.greet(c); err != nil {
		return "", err
	}
	rejected, err := h.envelope(c, o)
	if err != nil {
		return "", err
	}
	reply, err := h.data(c, tc, o)
	if err != nil {
		return "", err
	}
	if len(rejected) > 0 {
		reply += "; refused: " + strings.Join(rejected, "; ")
	}
	_ = c.Quit() // the message is accepted; a failing QUIT changes nothing
	return reply, nil
}

// dial connects to the smarthost and sets up TLS as configured. ctx ending
// closes the connection, whatever the step: deliver's own cancel when it
// returns, or shutdown past its grace period.
func (h *smarthost) dial(ctx context.Context) (*smtp.Client, *timeoutConn, error) {
	d := net.Dialer{Timeout: h.timeout}
	raw, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, nil, &stepError{"connect", true, err}
	}
	context.AfterFunc(ctx, func() { _ = raw.Close() })
	tc := &timeoutConn{Conn: raw}
	tc.timeout.Store(int64(h.timeout))
	var c *smtp.Client
	switch h.mode {
	case "tls":
		tlsConn := tls.Client(tc, h.tlsConfig)
		hctx, hcancel := context.WithTimeout(ctx, h.timeout)
		err = tlsConn.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			return nil, nil, &stepError{"TLS handshake", true, err}
		}
		c = smtp.NewClient(tlsConn)
	case "starttls":
		// go-smtp greets and says EHLO (as "localhost") before STARTTLS;
		// greet names us properly on the encrypted channel.
		if c, err = smtp.NewClientStartTLS(tc, h.tlsConfig); err != nil {
			return nil, nil, &stepError{"STARTTLS", true, err}
		}
	default:
		c = smtp.NewClient(tc)
	}
	c.CommandTimeout = h.timeout
	c.SubmissionTimeout = replyFactor * h.timeout
	return c, tc, nil
}

// greet says EHLO and authenticates when a user is configured.
func (h *smarthost) greet(c *smtp.Client) error {
	if err := c.Hello(h.helo); err != nil {
		step := "EHLO"
		if h.mode == "starttls" {
			step = "EHLO after STARTTLS" // the TLS handshake happens here
		}
		return &stepError{step, true, err}
	}
	if h.user == "" {
		return nil
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return &stepError{"AUTH", true, errors.New("the smarthost does not offer AUTH")}
	}
	if err := c.Auth(h.saslClient()); err != nil {
		return &stepError{"AUTH", true, err}
	}
	return nil
}

func (h *smarthost) saslClient() sasl.Client {
	if h.mech == "login" {
		return sasl.NewLoginClient(h.user, h.password)
	}
	return sasl.NewPlainClient("", h.user, h.password)
}

// envelope sends MAIL FROM and every RCPT TO; it returns the recipients
// refused for good, as "<addr> reply".
func (h *smarthost) envelope(c *smtp.Client, o *bus.Outbound) (rejected []string, err error) {
	opts := &smtp.MailOptions{Size: int64(len(o.Raw))}
	if !allASCII(append([]string{o.MailFrom}, o.Rcpts...)) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return nil, &permanentError{"MAIL: the smarthost does not support SMTPUTF8, needed for non-ASCII addresses"}
		}
		opts.UTF8 = true
	}
	if err := c.Mail(o.MailFrom, opts); err != nil {
		return nil, &stepError{"MAIL FROM", false, err}
	}
	var accepted int
	for _, rcpt := range o.Rcpts {
		err := c.Rcpt(rcpt, nil)
		switch {
		case err == nil:
			accepted++
		case isPermanent(err):
			rejected = append(rejected, fmt.Sprintf("<%s> %s", rcpt, replyText(err)))
		default:
			return nil, &stepError{fmt.Sprintf("RCPT TO <%s>", rcpt), false, err}
		}
	}
	if accepted == 0 {
		return nil, &permanentError{"all recipients refused: " + strings.Join(rejected, "; ")}
	}
	return rejected, nil
}

// data sends the message and returns the smarthost's reply to it.
func (h *smarthost) data(c *smtp.Client, tc *timeoutConn, o *bus.Outbound) (string, error) {
	w, err := c.Data()
	if err != nil {
		return "", &stepError{"DATA", false, err}
	}
	if _, err := w.Write(o.Raw); err != nil {
		return "", &stepError{"DATA", false, err}
	}
	tc.timeout.Store(int64(replyFactor * h.timeout))
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", &stepError{"end of DATA", false, err}
	}
	tc.timeout.Store(int64(h.timeout))
	return "250 " + oneLine(resp.StatusText), nil
}

// timeoutConn bounds every read and write with its own deadline. go-smtp
// sets no deadline while the message body is written, and resets deadlines
// to none between commands; this catches both.
type timeoutConn struct {
	net.Conn
	timeout atomic.Int64 // a time.Duration
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.timeout.Load())))
	return c.Conn.Read(b)
}

func (c *timeoutConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Duration(c.timeout.Load())))
	return c.Conn.Write(b)
}

// checkEnvelope refuses what no smarthost could take.
func checkEnvelope(o *bus.Outbound) error {
	if len(o.Rcpts) == 0 {
		return &permanentError{"invalid outbound message: no recipients"}
	}
	if len(o.Raw) == 0 {
		return &permanentError{"invalid outbound message: empty message"}
	}
	for _, a := range append([]string{o.MailFrom}, o.Rcpts...) {
		if strings.ContainsAny(a, "\r\n<> \t") {
			return &permanentError{fmt.Sprintf("invalid outbound message: bad address %q", a)}
		}
	}
	for _, a := range o.Rcpts {
		if a == "" {
			return &permanentError{"invalid outbound message: empty recipient"}
		}
	}
	return nil
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
	}
	return true
}

// ---- failures and their classification ----

// stepError is a failure at one step of the SMTP dialogue. Session steps
// (connect, greeting, EHLO, STARTTLS, AUTH) concern the relay and the
// smarthost, not the message: they are always temporary, so a wrong
// password or a smarthost refusing connections delays mail instead of
// failing it for good.
type stepError struct {
	step    string
	session bool
	err     error
}

func (e *stepError) Error() string { return e.step + ": " + replyText(e.err) }
func (e *stepError) Unwrap() error { return e.err }

// permanentError is a failure that no retry can fix (a bad envelope, all
// recipients refused).
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// isPermanent tells a permanent failure (report failed) from a temporary one
// (retry later): a 5xx reply to the message is permanent; 4xx replies,
// network errors, timeouts, TLS errors and every session-step failure are
// temporary. 530 (authentication or TLS required) is a configuration
// problem of the relay wherever it comes, so it is temporary too.
func isPermanent(err error) bool {
	if err == nil {
		return false
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	var se *stepError
	if errors.As(err, &se) && se.session {
		return false
	}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return smtpErr.Code >= 500 && smtpErr.Code <= 599 && smtpErr.Code != 530
	}
	return false
}

// replyText renders an SMTP reply as the server sent it ("550 5.1.1 No such
// user"), after the step it answered ("RCPT TO <a@b>: 550 5.1.1 …"), or any
// other error as its text.
func replyText(err error) string {
	var step *stepError
	if errors.As(err, &step) {
		return step.Error()
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		var b strings.Builder
		fmt.Fprintf(&b, "%d", se.Code)
		if se.EnhancedCode[0] > 0 {
			fmt.Fprintf(&b, " %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		if se.Message != "" {
			b.WriteString(" " + oneLine(se.Message))
		}
		return b.String()
	}
	if err == nil {
		return ""
	}
	return oneLine(err.Error())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
