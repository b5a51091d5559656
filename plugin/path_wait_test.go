package plugin

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

func TestWaitReturnsFirstMatchingAndLooksBack(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_wait_timeout": "10s"})

	// Arrived a moment before the call: it counts.
	tb.deliver(t, "bot", msgID(1), "noreply@early.example", "early", "123123")
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"timeout": 1})
	require.Equal(t, "123123", resp.Data["code"])

	// Nothing left: 408.
	_, err := tb.do(logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"timeout": 1})
	requireCoded(t, err, http.StatusRequestTimeout)

	// A waiter wakes when matching mail arrives; a non-matching one doesn't satisfy it.
	var wg sync.WaitGroup
	wg.Add(1)
	var got *logical.Response
	var werr error
	go func() {
		defer wg.Done()
		got, werr = tb.do(logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"timeout": 5, "from": "bank.example"})
	}()
	time.Sleep(100 * time.Millisecond)
	tb.deliver(t, "bot", msgID(2), "news@shop.example", "newsletter", "")
	time.Sleep(100 * time.Millisecond)
	tb.deliver(t, "bot", msgID(3), "otp@bank.example", "login", "998877")
	wg.Wait()
	require.NoError(t, werr)
	require.Equal(t, "998877", got.Data["code"])

	// Bad input.
	for _, bad := range []map[string]interface{}{{"timeout": 60}, {"timeout": -1}, {"since": "x"}, {"limit": 3}} {
		resp, err := tb.do(logical.ReadOperation, "agents/bot/messages/wait", bad)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
	}
}

func TestWaitFromReturnsOnlyVerifiedSenderMail(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	deliverSpoofs(t, tb)
	wait := func(data map[string]interface{}) (*logical.Response, error) {
		data["timeout"] = 1
		return tb.do(logical.ReadOperation, "agents/bot/messages/wait", data)
	}

	_, err := wait(map[string]interface{}{"from": "svc.example"})
	requireCoded(t, err, http.StatusRequestTimeout)

	tb.deliverFrom(t, "bot", msgID(5), "SVC <noreply@mail.svc.example>", "noreply@mail.svc.example", "Your code", "555555", mailmsg.TrustVerified)
	resp, err := wait(map[string]interface{}{"from": "SVC.example"})
	require.NoError(t, err)
	require.Equal(t, "555555", resp.Data["code"], "a verified subdomain sender answers from=svc.example")
	require.Equal(t, mailmsg.TrustVerified, resp.Data["trust"])
	require.Equal(t, "mail.svc.example", resp.Data["sender_domain"])

	// trust=any returns the unverified ones, marked, earliest first; never
	// the display-name spoof or the look-alike domain.
	var codes []string
	for {
		resp, err := wait(map[string]interface{}{"from": "svc.example", "trust": "any"})
		if err != nil {
			requireCoded(t, err, http.StatusRequestTimeout)
			break
		}
		require.Equal(t, mailmsg.TrustUnverified, resp.Data["trust"])
		require.Equal(t, "test verdict", resp.Data["trust_reason"])
		codes = append(codes, resp.Data["code"].(string))
	}
	require.Equal(t, []string{"333333", "444444"}, codes)

	// Without from, wait is not about a sender: any unread mail counts.
	resp, err = wait(map[string]interface{}{})
	require.NoError(t, err)
	require.Equal(t, "111111", resp.Data["code"])
}

func TestWaitFromAnExactAddress(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.deliverFrom(t, "bot", msgID(1), "x@mail.svc.example", "x@mail.svc.example", "s", "111111", mailmsg.TrustVerified)
	tb.deliverFrom(t, "bot", msgID(2), "Other <other@svc.example>", "other@svc.example", "s", "222222", mailmsg.TrustVerified)
	tb.deliverFrom(t, "bot", msgID(3), "No Reply <NoReply@svc.example>", "noreply@svc.example", "s", "333333", mailmsg.TrustVerified)
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"from": "noreply@SVC.example", "timeout": 1})
	require.Equal(t, "333333", resp.Data["code"])
}

func TestRequireVerifiedSenderCanBeTurnedOff(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	require.Equal(t, true, tb.ok(t, logical.ReadOperation, "config", nil).Data["require_verified_sender"])
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"require_verified_sender": false})
	require.Equal(t, false, tb.ok(t, logical.ReadOperation, "config", nil).Data["require_verified_sender"])
	tb.deliverFrom(t, "bot", msgID(1), "noreply@svc.example", "noreply@svc.example", "s", "333333", mailmsg.TrustUnverified)
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"from": "svc.example", "timeout": 1})
	require.Equal(t, "333333", resp.Data["code"])
	require.Equal(t, mailmsg.TrustUnverified, resp.Data["trust"])
	// A caller can still ask for verified mail only.
	tb.deliverFrom(t, "bot", msgID(2), "noreply@svc.example", "noreply@svc.example", "s", "444444", mailmsg.TrustUnverified)
	_, err := tb.do(logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"from": "svc.example", "trust": "verified", "timeout": 1})
	requireCoded(t, err, http.StatusRequestTimeout)
}

// A revocation while messages/wait waits ends it with 410, not data.
func TestRevocationEndsAWaitingMessagesWaitWith410(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := tb.do(logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"timeout": 30})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	err := <-done
	requireCoded(t, err, http.StatusGone)
	require.Less(t, time.Since(start), 5*time.Second)
	requireDeniedEvent(t, tb, "bot", opMessageWait)
}
