package relay

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// A failed publish (as the delivery's commit reports it: temporary): a
// full bus is told apart from a fault in the reply; every one is 4xx.
func TestPublishReply(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     int
		enhanced smtp.EnhancedCode
	}{
		{fmt.Errorf("publish: %w", bus.ErrAgentBacklog), 452, smtp.EnhancedCode{4, 2, 2}},
		{fmt.Errorf("put blob: %w", bus.ErrBusFull), 452, smtp.EnhancedCode{4, 3, 1}},
		{errors.New("nats: timeout"), 451, smtp.EnhancedCode{4, 3, 0}},
	} {
		r := reply(temporary(tc.err))
		require.Equal(t, tc.code, r.Code, "%v", tc.err)
		require.Equal(t, tc.enhanced, r.EnhancedCode, "%v", tc.err)
	}
}

// reply is the one mapping from what went wrong to what a sender hears.
func TestReply(t *testing.T) {
	goSMTPTooLarge := &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Maximum message size exceeded"}
	cases := []struct {
		name     string
		err      error
		code     int
		enhanced string
		text     string // the reply's text contains it
	}{
		{"bad address", errBadAddress, 501, "5.1.3", "Bad recipient address"},
		{"not our domain", errNotOurDomain, 550, "5.7.1", "Relaying denied"},
		{"unknown agent", errUnknownAgent, 550, "5.1.1", "No such agent"},
		{"directory not ready", errDirectoryNotReady, 451, "4.3.0", "directory"},
		{"not registered", errNotRegistered, 451, "4.3.0", "not registered"},
		{"bus not ready", errBusNotReady, 451, "4.3.0", "try again later"},
		{"domain rate", errDomainRate, 451, "4.7.1", "sender domain"},
		{"IP rate", errIPRate, 451, "4.7.1", "your address"},
		{"backlog, wrapped twice", temporary(fmt.Errorf("publish: %w", bus.ErrAgentBacklog)), 452, "4.2.2", "Mailbox full"},
		{"bus full", fmt.Errorf("put blob: %w", bus.ErrBusFull), 452, "4.3.1", "storage"},
		{"line too long", smtp.ErrTooLongLine, 500, "5.5.6", "Line too long"},
		{"no recipients", errNoRecipients, 554, "5.5.1", "No valid recipients"},
		{"unparseable", fmt.Errorf("%w: boundary", errUnparseable), 554, "5.6.0", "rejected"},
		{"go-smtp's own", goSMTPTooLarge, 552, "5.3.4", "Maximum message size"},
		{"header limit", &mailparse.LimitError{Limit: mailparse.LimitHeader, Max: 10, Got: 20}, 552, "5.3.4", "Message exceeds limits: "},
		{"parts limit", &mailparse.LimitError{Limit: mailparse.LimitParts, Max: 10, Got: 20}, 554, "5.6.0", "Message exceeds limits: "},
		{"a publish that timed out", temporary(fmt.Errorf("publish: %w", context.DeadlineExceeded)), 451, "4.3.0", "try again later"},
		{"anything else", errors.New("seal: nonce reuse at 0xdeadbeef"), 554, "5.0.0", "Internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := reply(tc.err)
			require.Equal(t, tc.code, r.Code)
			require.Equal(t, tc.enhanced, fmt.Sprintf("%d.%d.%d", r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2]))
			require.Contains(t, r.Message, tc.text)
			if tc.name == "anything else" {
				require.NotContains(t, r.Message, "0xdeadbeef", "no internals in a reply")
			}
		})
	}
}
