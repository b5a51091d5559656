package relay

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/bus"
)

// The outbound path: the plugin queues DKIM-signed messages on
// bus.OutboundStream; every relay of the domain pulls from one shared durable
// consumer, delivers to the configured smarthost and reports each result on
// the status stream with bus.PublishStatus.
//
// A queued message goes through:
//
//	undecodable                     → Term (poison), logged; no status
//	already in bus.DeliveryBucket   → status sent (the recorded reply), Ack
//	agent no longer in directory    → status cancelled, Ack
//	smarthost accepted it           → KV put, status sent, DoubleAck
//	5xx to the message              → status failed, Ack
//	temporary failure               → status deferred, NakWithDelay(backoff)
//	  … on attempt MaxDeliveryAttempts → status failed, Term
const (
	// outboundWorkers is how many messages one relay delivers at once.
	outboundWorkers = 4
	// fetchWait is how long one pull waits for a message; it also bounds
	// how long an idle worker takes to notice shutdown.
	fetchWait = 2 * time.Second
	// maxBackoff caps the delay between delivery attempts.
	maxBackoff = 5 * time.Minute
	// replyFactor: the smarthost's reply to the message body may take this
	// many times -smarthost-timeout (it may scan the message first).
	replyFactor = 3
)

// backoff is the delay before attempt+1 after attempt failed temporarily:
// 1s, 2s, 4s, … capped at maxBackoff.
func backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 { // 2^19 s is far past the cap; avoid overflow
		return maxBackoff
	}
	d := time.Second << (attempt - 1)
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// ---- errors and their classification ----

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

// ---- the SMTP client side ----

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

func (h *smarthost) saslClient() sasl.Client {
	if h.mech == "login" {
		return sasl.NewLoginClient(h.user, h.password)
	}
	return sasl.NewPlainClient("", h.user, h.password)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// deliver sends one message in one SMTP transaction and returns the
// smarthost's final reply ("250 2.0.0 Ok: queued as …"). Recipients the
// smarthost refuses with 5xx are skipped and listed in the reply, as long as
// one was accepted; a 4xx to any recipient abandons the transaction before
// DATA (a temporary error), so a retry never reaches anyone twice.
// Classify a returned error with isPermanent.
func (h *smarthost) deliver(ctx context.Context, o *bus.Outbound) (string, error) {
	if err := checkEnvelope(o); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	d := net.Dialer{Timeout: h.timeout}
	raw, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return "", &stepError{"connect", true, err}
	}
	defer raw.Close()
	// Shutdown past its grace period cuts the connection, whatever step.
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
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
			return "", &stepError{"TLS handshake", true, err}
		}
		c = smtp.NewClient(tlsConn)
	case "starttls":
		// go-smtp greets and says EHLO (as "localhost") before STARTTLS;
		// Hello below names us properly on the encrypted channel.
		c, err = smtp.NewClientStartTLS(tc, h.tlsConfig)
		if err != nil {
			return "", &stepError{"STARTTLS", true, err}
		}
	default:
		c = smtp.NewClient(tc)
	}
	defer c.Close()
	c.CommandTimeout = h.timeout
	c.SubmissionTimeout = replyFactor * h.timeout

	if err := c.Hello(h.helo); err != nil {
		step := "EHLO"
		if h.mode == "starttls" {
			step = "EHLO after STARTTLS" // the TLS handshake happens here
		}
		return "", &stepError{step, true, err}
	}
	if h.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return "", &stepError{"AUTH", true, errors.New("the smarthost does not offer AUTH")}
		}
		if err := c.Auth(h.saslClient()); err != nil {
			return "", &stepError{"AUTH", true, err}
		}
	}

	opts := &smtp.MailOptions{Size: int64(len(o.Raw))}
	if !isASCII(o.MailFrom) || !allASCII(o.Rcpts) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return "", &permanentError{"MAIL: the smarthost does not support SMTPUTF8, needed for non-ASCII addresses"}
		}
		opts.UTF8 = true
	}
	if err := c.Mail(o.MailFrom, opts); err != nil {
		return "", &stepError{"MAIL FROM", false, err}
	}
	var accepted int
	var rejected []string
	for _, rcpt := range o.Rcpts {
		err := c.Rcpt(rcpt, nil)
		if err == nil {
			accepted++
			continue
		}
		if isPermanent(err) {
			rejected = append(rejected, fmt.Sprintf("<%s> %s", rcpt, replyText(err)))
			continue
		}
		return "", &stepError{fmt.Sprintf("RCPT TO <%s>", rcpt), false, err}
	}
	if accepted == 0 {
		return "", &permanentError{"all recipients refused: " + strings.Join(rejected, "; ")}
	}
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
	reply := "250 " + oneLine(resp.StatusText)
	if len(rejected) > 0 {
		reply += "; refused: " + strings.Join(rejected, "; ")
	}
	_ = c.Quit() // the message is accepted; a failing QUIT changes nothing
	return reply, nil
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// ---- the JetStream side ----

// kvKeyRe is what a delivery key may be used as-is: KV keys allow more,
// but without dots the hashed form below ("sha256.<hex>") never collides.
var kvKeyRe = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

// deliveryKey is a message ID as a key of bus.DeliveryBucket.
func deliveryKey(id string) string {
	if kvKeyRe.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256." + hex.EncodeToString(sum[:])
}

// outbound runs the delivery workers of one relay.
type outbound struct {
	s      *Server
	host   *smarthost
	logger *slog.Logger
	name   string // this relay, in statuses

	// deliverCtx is cancelled when the shutdown grace period ends: it cuts
	// deliveries still running then.
	deliverCtx context.Context
	cutShort   context.CancelFunc

	mu      sync.Mutex
	started bool
	stopped bool
	wg      sync.WaitGroup

	js jetstream.JetStream
	kv jetstream.KeyValue
}

func newOutbound(s *Server) *outbound {
	name := s.cfg.Hostname
	if name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			name = h
		} else {
			name = s.cfg.Domain
		}
	}
	o := &outbound{
		s:      s,
		host:   newSmarthost(s.cfg),
		logger: s.logger.With("component", "outbound"),
		name:   name,
	}
	o.deliverCtx, o.cutShort = context.WithCancel(context.Background())
	return o
}

// start runs the workers once (later reconnects reuse them); ctx ending
// stops them from taking new messages.
func (o *outbound) start(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || o.stopped {
		return
	}
	o.started = true
	o.js, o.kv = js, kv
	o.wg.Add(1)
	go o.run(ctx)
}

// shutdown waits for the workers; when grace ends first, deliveries still
// running are cut (and retried later, by this or another relay).
func (o *outbound) shutdown(grace context.Context) {
	o.mu.Lock()
	o.stopped = true
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-grace.Done():
		o.logger.Warn("outbound deliveries cut short at shutdown; they will be retried")
		o.cutShort()
		<-done
	}
	o.cutShort()
}

func (o *outbound) run(ctx context.Context) {
	defer o.wg.Done()
	// Revoked agents are only known once the directory has been read.
	for ctx.Err() == nil {
		if _, ready := o.s.dir.lookup(""); ready {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	var cons jetstream.Consumer
	for ctx.Err() == nil && cons == nil {
		var err error
		if cons, err = o.ensureConsumer(ctx); err != nil {
			o.logger.Warn("outbound consumer; retrying", "error", err)
			sleepCtx(ctx, time.Second)
		}
	}
	if ctx.Err() != nil {
		return
	}
	o.logger.Info("outbound delivery running", "consumer", bus.RelayConsumerName(o.s.cfg.Domain), "workers", outboundWorkers)
	for range outboundWorkers {
		o.wg.Add(1)
		go o.work(ctx, cons)
	}
}

// ensureConsumer binds the relays' shared consumer, which the plugin
// makes (a relay changes no stream configuration).
func (o *outbound) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return o.js.Consumer(cctx, bus.OutboundStream, bus.RelayConsumerName(o.s.cfg.Domain))
}

func (o *outbound) work(ctx context.Context, cons jetstream.Consumer) {
	defer o.wg.Done()
	for ctx.Err() == nil {
		if cons == nil {
			c, err := o.ensureConsumer(ctx)
			if err != nil {
				if ctx.Err() == nil {
					o.logger.Warn("outbound consumer; retrying", "error", err)
					sleepCtx(ctx, time.Second)
				}
				continue
			}
			cons = c
		}
		// A bounded pull, not one cancelled by ctx: a message the server
		// sent to a pull we had abandoned would wait out AckWait.
		msg, err := cons.Next(jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || ctx.Err() != nil {
				continue
			}
			o.logger.Warn("outbound pull failed; retrying", "error", err)
			cons = nil
			sleepCtx(ctx, time.Second)
			continue
		}
		o.handle(msg)
	}
}

// handle takes one queued message through the state machine above.
func (o *outbound) handle(msg jetstream.Msg) {
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	payload, err := bus.OutboundPayload(o.deliverCtx, o.s.outboundBlobs(), msg)
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			o.logger.Error("outbound message terminated: its blob is missing", "subject", msg.Subject(), "attempt", attempt)
			o.settle(func() error { return msg.TermWithReason("blob missing") }, "term")
			return
		}
		o.logger.Warn("outbound blob not readable; retrying", "error", err, "attempt", attempt)
		o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
		return
	}
	// A blob (payload over bus.InlineLimit) stays until the blob bucket's
	// TTL removes it: a redelivery must still find it.
	pob, ok := o.open(msg, payload, attempt)
	if !ok {
		return
	}
	ob := *pob
	log := o.logger.With("id", ob.ID, "message_id", ob.MessageID, "agent", ob.Agent, "attempt", attempt)

	// Never twice: a message this or another relay already delivered (its
	// ack was lost, or the status publish failed) is only reported.
	key := deliveryKey(ob.ID)
	kctx, kcancel := o.busCtx()
	entry, err := o.kv.Get(kctx, key)
	kcancel()
	switch {
	case err == nil:
		reply := string(entry.Value())
		log.Info("outbound message already delivered; reporting it", "outcome", bus.StatusSent, "reply", reply)
		if err := o.report(&ob, bus.StatusSent, reply, attempt); err != nil {
			log.Warn("status not published; retrying later", "error", err)
			o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
			return
		}
		o.settle(o.doubleAck(msg), "ack")
		return
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		log.Warn("delivery record unreadable; retrying later", "error", err)
		o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
		return
	}

	// Revoked since it was queued: not sent. An agent the directory does
	// not know yet (just created, or a lagging sync) is retried, not cancelled.
	if live, ready := o.s.dir.lookup(ob.Agent); ready && !live && !o.s.dir.revoked(ob.Agent) {
		log.Info("outbound message waits: agent not in the address directory yet")
		o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
		return
	}
	if o.s.dir.revoked(ob.Agent) {
		log.Info("outbound message cancelled: agent revoked", "outcome", bus.StatusCancelled)
		if err := o.report(&ob, bus.StatusCancelled, "agent revoked", attempt); err != nil {
			log.Warn("status not published; retrying later", "error", err)
			o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
			return
		}
		o.settle(msg.Ack, "ack")
		return
	}

	// The consumer's AckWait may be shorter than a slow delivery.
	keepAlive := make(chan struct{})
	go func() {
		t := time.NewTicker(bus.RelayConsumerConfig(o.s.cfg.Domain).AckWait / 4)
		defer t.Stop()
		for {
			select {
			case <-keepAlive:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	start := time.Now()
	reply, err := o.host.deliver(o.deliverCtx, &ob)
	close(keepAlive)
	log = log.With("rcpts", len(ob.Rcpts), "size", len(ob.Raw), "smarthost", o.host.addr,
		"duration", time.Since(start).Round(time.Millisecond))

	switch {
	case err == nil:
		// The record first: from here on, a redelivery only reports.
		recorded := o.remember(key, reply) == nil
		if !recorded {
			log.Error("delivered, but the delivery record could not be written; a redelivery could send it twice")
		}
		log.Info("outbound message sent", "outcome", bus.StatusSent, "reply", reply)
		if err := o.report(&ob, bus.StatusSent, reply, attempt); err != nil && recorded {
			log.Warn("status not published; the redelivery will report it", "error", err)
			o.settle(func() error { return msg.NakWithDelay(backoff(1)) }, "nak")
			return
		} else if err != nil {
			log.Error("status not published", "error", err)
		}
		o.settle(o.doubleAck(msg), "ack")

	case isPermanent(err):
		text := replyText(err)
		log.Warn("outbound message failed", "outcome", bus.StatusFailed, "reply", text)
		if err := o.report(&ob, bus.StatusFailed, text, attempt); err != nil {
			log.Warn("status not published; retrying later", "error", err)
			o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
			return
		}
		o.settle(msg.Ack, "ack")

	case attempt >= bus.MaxDeliveryAttempts:
		text := fmt.Sprintf("giving up after %d attempts: %s", attempt, replyText(err))
		log.Warn("outbound message failed", "outcome", bus.StatusFailed, "reply", text)
		if err := o.report(&ob, bus.StatusFailed, text, attempt); err != nil {
			log.Error("final status not published", "error", err)
		}
		o.settle(func() error { return msg.TermWithReason("delivery attempts exhausted") }, "term")

	default:
		text := replyText(err)
		delay := backoff(attempt)
		log.Info("outbound message deferred", "outcome", bus.StatusDeferred, "reply", text, "retry_in", delay)
		if err := o.report(&ob, bus.StatusDeferred, text, attempt); err != nil {
			log.Warn("deferred status not published", "error", err)
		}
		o.settle(func() error { return msg.NakWithDelay(delay) }, "nak")
	}
}

// busCtx bounds one bus operation. It is not the run context: during
// shutdown, in-flight messages still get their status and ack.
// open checks and opens a queued message: signed by the plugin, sealed to
// this relay, from an agent of this domain. Anything else is not delivered:
// forged or altered mail is terminated; mail sealed only to other relays
// is left to them (offered again later).
func (o *outbound) open(msg jetstream.Msg, payload []byte, attempt int) (*bus.Outbound, bool) {
	h := msg.Headers()
	ob, err := bus.OpenOutbound(o.s.cfg.Domain, h.Get(jetstream.MsgIDHeader), h.Get(bus.HeaderSeal), payload, o.s.dir.signer(), o.s.key)
	if err == nil {
		err = checkSender(o.s.cfg.Domain, ob)
	}
	switch {
	case err == nil:
		return ob, true
	case len(o.s.dir.signer()) == 0:
		o.logger.Warn("outbound message waits: the plugin's signing key is not in the address directory yet", "attempt", attempt)
		o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
	case strings.Contains(err.Error(), "not sealed to this relay"):
		o.logger.Warn("outbound message not sealed to this relay; left to the others", "error", err, "attempt", attempt)
		o.settle(func() error { return msg.NakWithDelay(backoff(attempt)) }, "nak")
	default:
		o.logger.Error("outbound message refused and terminated", "error", err, "subject", msg.Subject(), "size", len(payload), "attempt", attempt)
		o.settle(func() error { return msg.TermWithReason(err.Error()) }, "term")
	}
	return nil, false
}

// checkSender is the relay's own check that a queued message is what the
// plugin may send: an agent's own address in this relay's domain.
func checkSender(domain string, ob *bus.Outbound) error {
	if ob.ID == "" || ob.Agent == "" {
		return fmt.Errorf("%w: no id or agent", bus.ErrForgedOutbound)
	}
	if !strings.EqualFold(ob.MailFrom, ob.Agent+"@"+domain) {
		return fmt.Errorf("%w: envelope sender %q is not agent %q of %s", bus.ErrForgedOutbound, ob.MailFrom, ob.Agent, domain)
	}
	return nil
}

func (o *outbound) busCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.s.cfg.PublishTimeout)
}

// doubleAck acks and waits for the server to confirm it.
func (o *outbound) doubleAck(msg jetstream.Msg) func() error {
	return func() error {
		ctx, cancel := o.busCtx()
		defer cancel()
		return msg.DoubleAck(ctx)
	}
}

// settle acks, naks or terms, logging a failure (the message then comes
// back after AckWait).
func (o *outbound) settle(f func() error, what string) {
	if err := f(); err != nil {
		o.logger.Warn("outbound "+what+" failed; the message will be redelivered", "error", err)
	}
}

// remember records a delivery, with a few quick retries: a missing record
// is what could make a redelivery send twice.
func (o *outbound) remember(key, reply string) error {
	var err error
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Duration(i) * 250 * time.Millisecond)
		}
		ctx, cancel := o.busCtx()
		_, err = o.kv.PutString(ctx, key, reply)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// report publishes one delivery status, with a few quick retries.
func (o *outbound) report(ob *bus.Outbound, status, reply string, attempt int) error {
	st := &bus.DeliveryStatus{
		ID: ob.ID, Agent: ob.Agent, Status: status, Reply: reply,
		Attempt: attempt, At: time.Now().UTC(), Relay: o.name,
	}
	var err error
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Duration(i) * 250 * time.Millisecond)
		}
		ctx, cancel := o.busCtx()
		err = bus.PublishStatus(ctx, o.js, o.s.cfg.Domain, st)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}
