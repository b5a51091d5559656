package relay

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// What a sender hears, in one place: the errors the session and the
// delivery report, the reply table, and reply, the one function that maps
// an error to an SMTP reply. Anything the relay or the bus gets wrong is a
// 4xx, so the sender retries: no mail is lost to a transient fault
// (docs/architecture.md).

// What goes wrong, as the session (session.go) and the delivery
// (delivery.go) report it.
var (
	errBadAddress        = errors.New("bad recipient address syntax")
	errNotOurDomain      = errors.New("recipient not in the served domain")
	errUnknownAgent      = errors.New("no such agent")
	errDirectoryNotReady = errors.New("address directory not synced yet")
	errNotRegistered     = errors.New("this relay's key is not registered with the plugin")
	errBusNotReady       = errors.New("not bound to the bus, or the plugin's public key not published yet")
	errDomainRate        = errors.New("sender domain over its rate limit")
	errIPRate            = errors.New("client IP over its rate limit")
	errNoRecipients      = errors.New("no valid recipients")
	errUnparseable       = errors.New("message does not parse")
)

// replies is the reply table: the first entry whose error err is (as
// errors.Is tells) answers it.
var replies = []struct {
	err   error
	reply *smtp.SMTPError
}{
	{errBadAddress, smtpReply(501, 5, 1, 3, "Bad recipient address syntax")},
	{errNotOurDomain, smtpReply(550, 5, 7, 1, "Relaying denied: this server accepts mail only for its own domain")},
	{errUnknownAgent, smtpReply(550, 5, 1, 1, "No such agent here")},
	{errDirectoryNotReady, smtpReply(451, 4, 3, 0, "Address directory not available yet, try again later")},
	{errNotRegistered, smtpReply(451, 4, 3, 0, "This relay is not registered with its mail store yet, try again later")},
	{errBusNotReady, replyTemporary},
	{errDomainRate, smtpReply(451, 4, 7, 1, "Too much mail from your sender domain, try again later")},
	{errIPRate, smtpReply(451, 4, 7, 1, "Too much mail from your address, try again later")},
	{bus.ErrAgentBacklog, smtpReply(452, 4, 2, 2, "Mailbox full: too much mail is waiting for this agent, try again later")},
	{bus.ErrBusFull, smtpReply(452, 4, 3, 1, "Insufficient system storage, try again later")},
	{smtp.ErrTooLongLine, smtpReply(500, 5, 5, 6, "Line too long")},
	{errNoRecipients, smtpReply(554, 5, 5, 1, "No valid recipients")},
	{errUnparseable, smtpReply(554, 5, 6, 0, "Message content rejected")},
}

var (
	// replyTemporary answers a fault of the relay or the bus (temporary),
	// a publish that timed out included: -publish-timeout is documented
	// as 451 4.3.0.
	replyTemporary = smtpReply(451, 4, 3, 0, "Temporary failure storing the message, try again later")
	// replyInternal answers what nothing above explains, without saying
	// what it was (the log does).
	replyInternal = smtpReply(554, 5, 0, 0, "Internal error")
)

func smtpReply(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}

// reply is what a sender hears for err (not nil), in this order: the reply
// table; an SMTP reply as it is (go-smtp's own, e.g. 552 5.3.4 for a
// message over the size limit); a parser limit's reply; 451 for a
// temporary fault; 554 for anything else.
func reply(err error) *smtp.SMTPError {
	for _, r := range replies {
		if errors.Is(err, r.err) {
			return r.reply
		}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	var le *mailparse.LimitError
	if errors.As(err, &le) {
		code, enhanced := le.SMTPStatus() // 552 5.3.4 headers, 554 5.6.0 structure
		var ec smtp.EnhancedCode
		_, _ = fmt.Sscanf(enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2])
		return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: "Message exceeds limits: " + le.Error()}
	}
	var te *temporaryError
	if errors.As(err, &te) {
		return replyTemporary
	}
	return replyInternal
}

// temporary marks err as a fault of the relay or the bus, not of the
// message: the sender gets a 4xx and retries.
func temporary(err error) error { return &temporaryError{err} }

type temporaryError struct{ err error }

func (e *temporaryError) Error() string { return e.err.Error() }
func (e *temporaryError) Unwrap() error { return e.err }
