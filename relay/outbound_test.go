package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

// ---- pieces without a network ----

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{
		-1: time.Second, 0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		9: 256 * time.Second, 10: 5 * time.Minute, 29: 5 * time.Minute, 64: 5 * time.Minute, 1 << 30: 5 * time.Minute,
	} {
		require.Equal(t, want, backoff(attempt), "attempt %d", attempt)
	}
}

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

func TestDeliveryKey(t *testing.T) {
	require.Equal(t, "01JQ8ZK3V2-ab_c", deliveryKey("01JQ8ZK3V2-ab_c"))
	for _, id := range []string{"a.b", ".x", "x y", "<id@host>", "ü", ""} {
		k := deliveryKey(id)
		require.True(t, strings.HasPrefix(k, "sha256."), k)
		require.Regexp(t, `^sha256\.[0-9a-f]{64}$`, k)
	}
	require.NotEqual(t, deliveryKey("a.b"), deliveryKey("a_b"))
}

func TestParseFlagsSmarthost(t *testing.T) {
	cfg, err := ParseFlags([]string{"-domain", "agents.example.com"}, env(nil), io.Discard)
	require.NoError(t, err)
	require.Empty(t, cfg.Smarthost, "outbound delivery is off by default")
	require.Equal(t, "starttls", cfg.SmarthostTLS)
	require.Equal(t, "plain", cfg.SmarthostAuth)
	require.Equal(t, 30*time.Second, cfg.SmarthostTimeout)
	require.False(t, cfg.SmarthostInsecureSkipVerify)

	cfg, err = ParseFlags(
		[]string{"-domain", "agents.example.com", "-smarthost-tls", "tls", "-smarthost-auth", "login", "-smarthost-timeout", "5s"},
		env(map[string]string{
			"MAILGENT_RELAY_SMARTHOST":                      "smtp.example.net:465",
			"MAILGENT_RELAY_SMARTHOST_USER":                 "relay",
			"MAILGENT_RELAY_SMARTHOST_PASSWORD":             "s3cret",
			"MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY": "true",
		}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "smtp.example.net:465", cfg.Smarthost)
	require.Equal(t, "tls", cfg.SmarthostTLS)
	require.Equal(t, "relay", cfg.SmarthostUser)
	require.Equal(t, "s3cret", cfg.SmarthostPassword)
	require.Equal(t, "login", cfg.SmarthostAuth)
	require.True(t, cfg.SmarthostInsecureSkipVerify)
	require.Equal(t, 5*time.Second, cfg.SmarthostTimeout)

	// The password is never a flag: flags show in ps.
	_, err = ParseFlags([]string{"-domain", "agents.example.com", "-smarthost-password", "x"}, env(nil), io.Discard)
	require.Error(t, err)
}

func TestParseFlagsSmarthostErrorsNameTheSetting(t *testing.T) {
	base := []string{"-domain", "agents.example.com", "-smarthost", "127.0.0.1:25"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no port", []string{"-domain", "agents.example.com", "-smarthost", "smtp.example.net"}, nil, "-smarthost:"},
		{"bad port", []string{"-domain", "agents.example.com", "-smarthost", "smtp.example.net:99999"}, nil, "-smarthost:"},
		{"no host", []string{"-domain", "agents.example.com", "-smarthost", ":25"}, nil, "-smarthost:"},
		{"bad tls", append(base, "-smarthost-tls", "ssl"), nil, "-smarthost-tls"},
		{"bad tls without smarthost", []string{"-domain", "agents.example.com", "-smarthost-tls", "yes"}, nil, "-smarthost-tls"},
		{"bad auth", append(base, "-smarthost-auth", "cram-md5"), nil, "-smarthost-auth"},
		{"zero timeout", append(base, "-smarthost-timeout", "0s"), nil, "-smarthost-timeout"},
		{"user without password", append(base, "-smarthost-user", "relay"), nil, "-smarthost-user"},
		{"password without user", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_PASSWORD": "pw"}, "-smarthost-user"},
		{"bad env bool", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY": "sure"}, "MAILGENT_RELAY_SMARTHOST_INSECURE_SKIP_VERIFY"},
		{"bad env duration", base, map[string]string{"MAILGENT_RELAY_SMARTHOST_TIMEOUT": "soon"}, "MAILGENT_RELAY_SMARTHOST_TIMEOUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlags(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
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

// ---- the state machine, with JetStream faked ----

// events records bus operations in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

type fakeMsg struct {
	jetstream.Msg // unused methods panic
	data          []byte
	header        nats.Header // inline payloads only: no blob header
	delivered     uint64
	ev            *events
}

func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Headers() nats.Header { return m.header }
func (m *fakeMsg) Subject() string      { return bus.OutboundSubject("agents.example.com") }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered}, nil
}
func (m *fakeMsg) Ack() error                         { m.ev.add("ack"); return nil }
func (m *fakeMsg) DoubleAck(context.Context) error    { m.ev.add("doubleack"); return nil }
func (m *fakeMsg) NakWithDelay(d time.Duration) error { m.ev.add("nak " + d.String()); return nil }
func (m *fakeMsg) TermWithReason(reason string) error { m.ev.add("term " + reason); return nil }
func (m *fakeMsg) InProgress() error                  { return nil }

type fakeKV struct {
	jetstream.KeyValue
	ev *events
	mu sync.Mutex
	m  map[string]string
}

type fakeEntry struct {
	jetstream.KeyValueEntry
	v []byte
}

func (e fakeEntry) Value() []byte { return e.v }

func (kv *fakeKV) Get(_ context.Context, key string) (jetstream.KeyValueEntry, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[key]
	if !ok {
		return nil, jetstream.ErrKeyNotFound
	}
	return fakeEntry{v: []byte(v)}, nil
}

func (kv *fakeKV) PutString(_ context.Context, key, value string) (uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m[key] = value
	kv.ev.add("kv.put " + key)
	return 1, nil
}

type fakeJS struct {
	jetstream.JetStream
	ev       *events
	mu       sync.Mutex
	statuses []bus.DeliveryStatus
}

func (js *fakeJS) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	var st bus.DeliveryStatus
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		return nil, err
	}
	js.mu.Lock()
	js.statuses = append(js.statuses, st)
	js.mu.Unlock()
	js.ev.add("status " + st.Status)
	return &jetstream.PubAck{}, nil
}

type machine struct {
	o   *outbound
	ev  *events
	kv  *fakeKV
	js  *fakeJS
	f   *fakeSmarthost
	dir *directory
	// plugin signs what is queued; relay is this relay's key.
	plugin ed25519.PrivateKey
	relay  *bus.RelayKey
}

func newMachine(t *testing.T, mutate func(*fakeSmarthost)) *machine {
	t.Helper()
	f, _ := startSmarthost(t, "none", mutate)
	cfg := DefaultConfig()
	cfg.KeyFile = testKeyFile(t)
	cfg.Domain = "agents.example.com"
	cfg.Hostname = "relay-1"
	cfg.Smarthost, cfg.SmarthostTLS, cfg.SmarthostTimeout = f.addr, "none", 5*time.Second
	require.NoError(t, cfg.Validate())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	relayKey, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	_, plugin, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s := &Server{cfg: cfg, logger: logger, dir: newDirectory(cfg.Domain, logger), key: relayKey}
	s.dir.synced = true
	s.dir.agents["billing-bot"] = true
	s.dir.signerKey = plugin.Public().(ed25519.PublicKey)
	ev := &events{}
	m := &machine{ev: ev, kv: &fakeKV{ev: ev, m: map[string]string{}}, js: &fakeJS{ev: ev}, f: f, dir: s.dir, plugin: plugin, relay: relayKey}
	m.o = newOutbound(s)
	m.o.js, m.o.kv = m.js, m.kv
	return m
}

// handle queues o as the plugin would (signed, sealed to this relay) and
// hands it to the state machine.
func (m *machine) handle(t *testing.T, o *bus.Outbound, attempt uint64) {
	t.Helper()
	m.handleSealed(t, o, m.plugin, m.relay, attempt)
}

func (m *machine) handleSealed(t *testing.T, o *bus.Outbound, signer ed25519.PrivateKey, to *bus.RelayKey, attempt uint64) {
	t.Helper()
	pub, err := to.Public()
	require.NoError(t, err)
	data, err := bus.SealOutbound("agents.example.com", o, signer, []bus.RelayPublic{pub})
	require.NoError(t, err)
	m.o.handle(&fakeMsg{data: data, header: nats.Header{jetstream.MsgIDHeader: {o.ID}, bus.HeaderSeal: {"outbound-2"}}, delivered: attempt, ev: m.ev})
}

func (m *machine) lastStatus(t *testing.T) bus.DeliveryStatus {
	t.Helper()
	m.js.mu.Lock()
	defer m.js.mu.Unlock()
	require.NotEmpty(t, m.js.statuses)
	return m.js.statuses[len(m.js.statuses)-1]
}

func TestHandleSentRecordsBeforeAckAndNeverTwice(t *testing.T) {
	m := newMachine(t, nil)
	o := testOutbound()
	m.handle(t, o, 1)
	require.Equal(t, []string{"kv.put 01JQTESTID", "status sent", "doubleack"}, m.ev.all())
	st := m.lastStatus(t)
	require.Equal(t, bus.DeliveryStatus{ID: o.ID, Agent: o.Agent, Status: bus.StatusSent, Reply: st.Reply, Attempt: 1, At: st.At, Relay: "relay-1"}, st)
	require.True(t, strings.HasPrefix(st.Reply, "250 2.0.0 "), st.Reply)
	require.Equal(t, st.Reply, m.kv.m["01JQTESTID"])

	// Redelivered (the ack was lost): reported from the record, not sent again.
	m.handle(t, o, 2)
	require.Len(t, m.f.messages(), 1)
	require.Equal(t, []string{"kv.put 01JQTESTID", "status sent", "doubleack", "status sent", "doubleack"}, m.ev.all())
	require.Equal(t, st.Reply, m.lastStatus(t).Reply)
	require.Equal(t, 2, m.lastStatus(t).Attempt)
}

func TestHandleAgentRevoked(t *testing.T) {
	m := newMachine(t, nil)
	delete(m.dir.agents, "billing-bot")
	m.dir.gone["billing-bot"] = true // the directory saw its key deleted
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"status cancelled", "ack"}, m.ev.all())
	require.Equal(t, "agent revoked", m.lastStatus(t).Reply)
	require.Empty(t, m.f.messages())
}

func TestHandleAgentNotInDirectoryYetWaits(t *testing.T) {
	m := newMachine(t, nil)
	delete(m.dir.agents, "billing-bot") // never seen: created a moment ago
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"nak 1s"}, m.ev.all(), "retried, not cancelled")
	require.Empty(t, m.f.messages())
}

func TestHandleDeferredWithBackoffThenFailed(t *testing.T) {
	m := newMachine(t, func(f *fakeSmarthost) {
		f.dataErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		f.dataErrN = 1000
	})
	m.handle(t, testOutbound(), 3)
	require.Equal(t, []string{"status deferred", "nak 4s"}, m.ev.all())
	st := m.lastStatus(t)
	require.Equal(t, 3, st.Attempt)
	require.Equal(t, "end of DATA: 451 4.3.0 Try again later", st.Reply)

	m.handle(t, testOutbound(), bus.MaxDeliveryAttempts)
	require.Equal(t, []string{"status deferred", "nak 4s", "status failed", "term delivery attempts exhausted"}, m.ev.all())
	require.Contains(t, m.lastStatus(t).Reply, fmt.Sprintf("giving up after %d attempts: end of DATA: 451", bus.MaxDeliveryAttempts))
}

func TestHandlePermanentFailure(t *testing.T) {
	m := newMachine(t, func(f *fakeSmarthost) {
		f.rcptErr["alice@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	})
	m.handle(t, testOutbound(), 1)
	require.Equal(t, []string{"status failed", "ack"}, m.ev.all())
	require.Equal(t, "all recipients refused: <alice@example.org> 550 5.1.1 No such user", m.lastStatus(t).Reply)
}

func TestHandlePoison(t *testing.T) {
	m := newMachine(t, nil)
	sealed := nats.Header{jetstream.MsgIDHeader: {"01JQTESTID"}, bus.HeaderSeal: {"outbound-2"}}
	m.o.handle(&fakeMsg{data: []byte("{not json"), header: sealed, delivered: 1, ev: m.ev})
	plain, err := json.Marshal(testOutbound())
	require.NoError(t, err)
	m.o.handle(&fakeMsg{data: plain, header: nats.Header{jetstream.MsgIDHeader: {"01JQTESTID"}}, delivered: 1, ev: m.ev})
	ev := m.ev.all()
	require.Len(t, ev, 2)
	require.Contains(t, ev[0], "term outbound message refused: undecodable")
	require.Contains(t, ev[1], "term outbound message refused: not sealed by the plugin")
	require.Empty(t, m.js.statuses)
	require.Empty(t, m.f.messages())
}

// Whoever holds relay credentials cannot make a relay send mail: only what
// the plugin signed is delivered, and only from an agent of the domain.
func TestHandleRefusesForgedOutbound(t *testing.T) {
	m := newMachine(t, nil)
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	m.handleSealed(t, testOutbound(), forger, m.relay, 1)
	require.Len(t, m.ev.all(), 1)
	require.Contains(t, m.ev.all()[0], "term outbound message refused: the signature does not verify")

	// Signed by the plugin's key but from outside the domain: the plugin
	// never queues that; refused all the same.
	o := testOutbound()
	o.MailFrom = "ceo@bank.example"
	m.handleSealed(t, o, m.plugin, m.relay, 1)
	require.Contains(t, m.ev.all()[1], "is not agent")

	// Sealed to another relay only: left to it, not terminated.
	other, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	m.handleSealed(t, testOutbound(), m.plugin, other, 1)
	require.Equal(t, "nak 1s", m.ev.all()[2])
	require.Empty(t, m.f.messages(), "nothing forged was delivered")
	require.Empty(t, m.js.statuses)
}
