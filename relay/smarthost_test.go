package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

// ---- failures and their classification ----

func TestIsPermanent(t *testing.T) {
	smtpErr := func(code int, enh smtp.EnhancedCode) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "x"}
	}
	_, dialErr := net.Dial("tcp", "127.0.0.1:1")
	require.Error(t, dialErr)
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"550 user unknown", smtpErr(550, smtp.EnhancedCode{5, 1, 1}), true},
		{"552 too big", smtpErr(552, smtp.EnhancedCode{5, 3, 4}), true},
		{"554 rejected", smtpErr(554, smtp.EnhancedCode{5, 7, 1}), true},
		{"wrapped 550", fmt.Errorf("rcpt: %w", smtpErr(550, smtp.EnhancedCode{5, 1, 1})), true},
		{"550 at RCPT", &stepError{"RCPT TO", false, smtpErr(550, smtp.EnhancedCode{5, 1, 1})}, true},
		{"451 greylisted", smtpErr(451, smtp.EnhancedCode{4, 7, 1}), false},
		{"421 shutting down", smtpErr(421, smtp.EnhancedCode{4, 3, 2}), false},
		{"452 storage", &stepError{"RCPT TO", false, smtpErr(452, smtp.EnhancedCode{4, 2, 2})}, false},
		{"530 auth required", &stepError{"MAIL FROM", false, smtpErr(530, smtp.EnhancedCode{5, 7, 0})}, false},
		{"535 at AUTH: our configuration", &stepError{"AUTH", true, smtpErr(535, smtp.EnhancedCode{5, 7, 8})}, false},
		{"554 greeting", &stepError{"EHLO", true, smtpErr(554, smtp.EnhancedCode{5, 0, 0})}, false},
		{"connection refused", &stepError{"connect", true, dialErr}, false},
		{"bare net error", dialErr, false},
		{"deadline", os.ErrDeadlineExceeded, false},
		{"context", context.DeadlineExceeded, false},
		{"eof", io.ErrUnexpectedEOF, false},
		{"tls verify", &stepError{"STARTTLS", true, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false},
		{"bad envelope", &permanentError{"invalid"}, true},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, isPermanent(tc.err)) })
	}
}

func TestReplyText(t *testing.T) {
	require.Equal(t, "550 5.1.1 No such user here",
		replyText(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user\nhere"}))
	require.Equal(t, "451 Try later", replyText(&smtp.SMTPError{Code: 451, Message: "Try later"}))
	require.Equal(t, "RCPT TO <a@b.example>: 452 4.2.2 Full",
		(&stepError{"RCPT TO <a@b.example>", false, &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Full"}}).Error())
}

// ---- delivery against an in-process smarthost ----

type received struct {
	From   string
	To     []string
	Data   string
	Helo   string
	TLS    bool
	Authed string
	Size   int64
}

// fakeSmarthost is a go-smtp server that records what it accepts and can be
// told to refuse.
type fakeSmarthost struct {
	addr string

	mu        sync.Mutex
	msgs      []received
	user      string // AUTH required when set
	pass      string
	rcptErr   map[string]*smtp.SMTPError
	dataErr   *smtp.SMTPError
	dataErrN  int           // answer dataErr to this many DATA
	dataDelay time.Duration // before answering DATA
}

func (f *fakeSmarthost) messages() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.msgs...)
}

func (f *fakeSmarthost) set(fn func(f *fakeSmarthost)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type fakeSession struct {
	f      *fakeSmarthost
	conn   *smtp.Conn
	authed string
	cur    received
}

func (f *fakeSmarthost) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &fakeSession{f: f, conn: c}, nil
}

func (s *fakeSession) AuthMechanisms() []string {
	if s.f.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.f.user || pass != s.f.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN (go-sasl has only the client).
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

func (s *fakeSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.f.user != "" && s.authed == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = received{From: from, Helo: s.conn.Hostname(), TLS: isTLS, Authed: s.authed, Size: opts.Size}
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if e := s.f.rcptErr[to]; e != nil {
		return e
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	delay := s.f.dataDelay
	s.f.mu.Unlock()
	time.Sleep(delay)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.f.dataErrN > 0 {
		s.f.dataErrN--
		return s.f.dataErr
	}
	s.cur.Data = string(b)
	s.f.msgs = append(s.f.msgs, s.cur)
	return nil
}

func (s *fakeSession) Reset()        { s.cur = received{} }
func (s *fakeSession) Logout() error { return nil }

// startSmarthost serves a fakeSmarthost on 127.0.0.1:0; tlsMode is "none",
// "starttls" (STARTTLS offered) or "tls" (implicit).
func startSmarthost(t *testing.T, tlsMode string, mutate func(*fakeSmarthost)) (*fakeSmarthost, *x509.CertPool) {
	t.Helper()
	f := &fakeSmarthost{rcptErr: map[string]*smtp.SMTPError{}}
	if mutate != nil {
		mutate(f)
	}
	srv := smtp.NewServer(f)
	srv.Domain = "smarthost.example.net"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = smtpDiscardLogger{}
	var pool *x509.CertPool
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if tlsMode != "none" {
		certPath, keyPath, p := selfSigned(t)
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		require.NoError(t, err)
		pool = p
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if tlsMode == "tls" {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	}
	f.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f, pool
}

type smtpDiscardLogger struct{}

func (smtpDiscardLogger) Printf(string, ...interface{}) {}
func (smtpDiscardLogger) Println(...interface{})        {}

func testHost(addr string, mutate func(*Config)) *smarthost {
	cfg := DefaultConfig()
	cfg.KeyFile = "/run/mailgent/relay.key" // only validated: a smarthost needs no key
	cfg.Domain = "agents.example.com"
	cfg.Smarthost = addr
	cfg.SmarthostTLS = "none"
	cfg.SmarthostTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return newSmarthost(cfg)
}

func testOutbound(rcpts ...string) *bus.Outbound {
	if len(rcpts) == 0 {
		rcpts = []string{"alice@example.org"}
	}
	return &bus.Outbound{
		ID: "01JQTESTID", MessageID: "abc@agents.example.com", Agent: "billing-bot",
		MailFrom: "billing-bot@agents.example.com", Rcpts: rcpts,
		Raw:      []byte("DKIM-Signature: v=1; a=rsa-sha256; d=agents.example.com\r\nFrom: billing-bot@agents.example.com\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n"),
		QueuedAt: time.Now(),
	}
}

func TestDeliverPlain(t *testing.T) {
	f, _ := startSmarthost(t, "none", nil)
	o := testOutbound("alice@example.org", "bob@example.org")
	reply, err := testHost(f.addr, nil).deliver(context.Background(), o)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "250 2.0.0 "), reply)
	msgs := f.messages()
	require.Len(t, msgs, 1)
	require.Equal(t, o.MailFrom, msgs[0].From)
	require.Equal(t, o.Rcpts, msgs[0].To)
	require.Equal(t, strings.ReplaceAll(string(o.Raw), "\r\n", "\n"), strings.ReplaceAll(msgs[0].Data, "\r\n", "\n"),
		"the signed bytes arrive unchanged (dot-stuffing undone)")
	require.Equal(t, "agents.example.com", msgs[0].Helo, "EHLO names the relay (the domain unless -hostname)")
	require.Equal(t, int64(len(o.Raw)), msgs[0].Size)
	require.False(t, msgs[0].TLS)
	require.Empty(t, msgs[0].Authed)
}

func TestDeliverHostnameInEHLO(t *testing.T) {
	f, _ := startSmarthost(t, "none", nil)
	_, err := testHost(f.addr, func(c *Config) { c.Hostname = "mx1.agents.example.com" }).deliver(context.Background(), testOutbound())
	require.NoError(t, err)
	require.Equal(t, "mx1.agents.example.com", f.messages()[0].Helo)
}

func TestDeliverAuth(t *testing.T) {
	for _, mech := range []string{"plain", "login"} {
		t.Run(mech, func(t *testing.T) {
			f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) { f.user, f.pass = "relay", "s3cret" })
			h := testHost(f.addr, func(c *Config) {
				c.SmarthostUser, c.SmarthostPassword, c.SmarthostAuth = "relay", "s3cret", mech
			})
			reply, err := h.deliver(context.Background(), testOutbound())
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(reply, "250 "), reply)
			require.Equal(t, "relay", f.messages()[0].Authed)
		})
	}
}

func TestDeliverAuthProblemsAreTemporary(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) { f.user, f.pass = "relay", "s3cret" })

	// A wrong password is the relay's configuration, not the message's fault.
	_, err := testHost(f.addr, func(c *Config) { c.SmarthostUser, c.SmarthostPassword = "relay", "wrong" }).
		deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err), err.Error())
	require.Contains(t, replyText(err), "AUTH: 535 5.7.8")

	// No user configured, the smarthost wants one: 530 at MAIL.
	_, err = testHost(f.addr, nil).deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err), err.Error())
	require.Contains(t, replyText(err), "530 5.7.0")

	// A user configured, the smarthost offers no AUTH.
	g, _ := startSmarthost(t, "none", nil)
	_, err = testHost(g.addr, func(c *Config) { c.SmarthostUser, c.SmarthostPassword = "relay", "pw" }).
		deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Contains(t, err.Error(), "does not offer AUTH")
	require.Empty(t, f.messages())
	require.Empty(t, g.messages())
}

func TestDeliverTemporaryThenAccepted(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) {
		f.dataErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		f.dataErrN = 2
	})
	h := testHost(f.addr, nil)
	for i := 0; i < 2; i++ {
		_, err := h.deliver(context.Background(), testOutbound())
		require.Error(t, err)
		require.False(t, isPermanent(err))
		require.Equal(t, "end of DATA: 451 4.3.0 Try again later", replyText(err))
	}
	reply, err := h.deliver(context.Background(), testOutbound())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "250 "), reply)
	require.Len(t, f.messages(), 1)
}

func TestDeliverPermanentRejection(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) {
		f.dataErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam"}
		f.dataErrN = 1
	})
	_, err := testHost(f.addr, nil).deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.True(t, isPermanent(err))
	require.Equal(t, "end of DATA: 550 5.7.1 Message rejected as spam", replyText(err))
	require.Empty(t, f.messages())
}

func TestDeliverSomeRecipientsRefused(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) {
		f.rcptErr["nobody@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	})
	reply, err := testHost(f.addr, nil).deliver(context.Background(), testOutbound("alice@example.org", "nobody@example.org", "bob@example.org"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "250 "), reply)
	require.Contains(t, reply, "refused: <nobody@example.org> 550 5.1.1 No such user")
	msgs := f.messages()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{"alice@example.org", "bob@example.org"}, msgs[0].To)
}

func TestDeliverAllRecipientsRefused(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) {
		f.rcptErr["a@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		f.rcptErr["b@example.org"] = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad address"}
	})
	_, err := testHost(f.addr, nil).deliver(context.Background(), testOutbound("a@example.org", "b@example.org"))
	require.Error(t, err)
	require.True(t, isPermanent(err))
	require.Equal(t, "all recipients refused: <a@example.org> 550 5.1.1 No such user; <b@example.org> 553 5.1.3 Bad address", replyText(err))
	require.Empty(t, f.messages())
}

// A 4xx to one recipient abandons the transaction: a retry must not reach
// the others twice.
func TestDeliverOneRecipientDeferredSendsNothing(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) {
		f.rcptErr["b@example.org"] = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Greylisted"}
	})
	_, err := testHost(f.addr, nil).deliver(context.Background(), testOutbound("a@example.org", "b@example.org"))
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Equal(t, "RCPT TO <b@example.org>: 450 4.2.0 Greylisted", replyText(err))
	require.Empty(t, f.messages())
}

func TestDeliverBadEnvelopeIsPermanent(t *testing.T) {
	for name, mutate := range map[string]func(*bus.Outbound){
		"no recipients":  func(o *bus.Outbound) { o.Rcpts = nil },
		"empty body":     func(o *bus.Outbound) { o.Raw = nil },
		"CRLF injection": func(o *bus.Outbound) { o.Rcpts = []string{"a@example.org>\r\nRCPT TO:<b@example.org"} },
		"empty rcpt":     func(o *bus.Outbound) { o.Rcpts = []string{""} },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOutbound()
			mutate(o)
			_, err := testHost("127.0.0.1:1", nil).deliver(context.Background(), o)
			require.Error(t, err)
			require.True(t, isPermanent(err), err.Error())
		})
	}
}

func TestDeliverUnreachableIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = testHost(addr, nil).deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Contains(t, replyText(err), "connect: ")
}

// A smarthost that accepts the connection and then says nothing.
func TestDeliverSilentServerTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	h := testHost(l.Addr().String(), func(c *Config) { c.SmarthostTimeout = 300 * time.Millisecond })
	start := time.Now()
	_, err = h.deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Less(t, time.Since(start), 3*time.Second)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), err.Error())
}

// Shutdown past its grace period cuts a delivery short.
func TestDeliverCancelled(t *testing.T) {
	f, _ := startSmarthost(t, "none", func(f *fakeSmarthost) { f.dataDelay = 3 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := testHost(f.addr, nil).deliver(ctx, testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestDeliverSTARTTLS(t *testing.T) {
	f, pool := startSmarthost(t, "starttls", func(f *fakeSmarthost) { f.user, f.pass = "relay", "s3cret" })
	auth := func(c *Config) {
		c.SmarthostTLS = "starttls"
		c.SmarthostUser, c.SmarthostPassword = "relay", "s3cret"
	}

	// Verified against the smarthost's CA.
	h := testHost(f.addr, auth)
	h.tlsConfig.RootCAs = pool
	reply, err := h.deliver(context.Background(), testOutbound())
	require.NoError(t, err, replyText(err))
	require.True(t, strings.HasPrefix(reply, "250 "), reply)
	require.True(t, f.messages()[0].TLS)
	require.Equal(t, "agents.example.com", f.messages()[0].Helo, "EHLO after STARTTLS names the relay")

	// An unknown CA: temporary (an operator can fix it), nothing sent.
	_, err = testHost(f.addr, auth).deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Contains(t, replyText(err), "STARTTLS")
	var cve *tls.CertificateVerificationError
	require.ErrorAs(t, err, &cve)

	// Development: not verified.
	_, err = testHost(f.addr, func(c *Config) { auth(c); c.SmarthostInsecureSkipVerify = true }).
		deliver(context.Background(), testOutbound())
	require.NoError(t, err)
	require.Len(t, f.messages(), 2)
}

func TestDeliverSTARTTLSRequired(t *testing.T) {
	f, _ := startSmarthost(t, "none", nil)
	_, err := testHost(f.addr, func(c *Config) { c.SmarthostTLS = "starttls" }).deliver(context.Background(), testOutbound())
	require.Error(t, err)
	require.False(t, isPermanent(err))
	require.Contains(t, err.Error(), "STARTTLS")
	require.Empty(t, f.messages(), "never falls back to plain text")
}

func TestDeliverImplicitTLS(t *testing.T) {
	f, pool := startSmarthost(t, "tls", nil)
	h := testHost(f.addr, func(c *Config) { c.SmarthostTLS = "tls" })
	h.tlsConfig.RootCAs = pool
	reply, err := h.deliver(context.Background(), testOutbound())
	require.NoError(t, err, replyText(err))
	require.True(t, strings.HasPrefix(reply, "250 "), reply)
	require.True(t, f.messages()[0].TLS)
}
