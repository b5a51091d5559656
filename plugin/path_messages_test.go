package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// The phishing shapes of the trust issue, in one inbox: none of them is
// what an agent waiting for svc.example's code receives.
func deliverSpoofs(t *testing.T, tb *testBackend) {
	t.Helper()
	tb.deliverFrom(t, "bot", msgID(1), `"svc.example" <attacker@evil.example>`, "attacker@evil.example", "Your svc.example code", "111111", mailmsg.TrustUnverified)
	tb.deliverFrom(t, "bot", msgID(2), "noreply@svc.example.evil.test", "noreply@svc.example.evil.test", "Your code", "222222", mailmsg.TrustVerified)
	tb.deliverFrom(t, "bot", msgID(3), "noreply@svc.example", "noreply@svc.example", "Your code", "333333", mailmsg.TrustUnverified)
	tb.deliverFrom(t, "bot", msgID(4), "SVC <noreply@svc.example>", "noreply@svc.example", "Your code", "444444", mailmsg.TrustUnverified)
}

func TestListFiltersBySenderDomainAddressSubstringAndTrust(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	deliverSpoofs(t, tb)
	codes := func(data map[string]interface{}) []string {
		t.Helper()
		var out []string
		for _, m := range tb.ok(t, logical.ReadOperation, "agents/bot/messages", data).Data["messages"].([]map[string]interface{}) {
			out = append(out, m["code"].(string))
		}
		return out
	}
	require.Equal(t, []string{"444444", "333333"}, codes(map[string]interface{}{"from": "svc.example"}))
	require.Equal(t, []string{"444444", "333333"}, codes(map[string]interface{}{"from": "noreply@svc.example"}))
	require.Equal(t, []string{"222222"}, codes(map[string]interface{}{"from": "svc.example.evil.test"}))
	require.Equal(t, []string{"444444", "333333", "222222", "111111"}, codes(map[string]interface{}{"from_contains": "svc.example"}))
	require.Equal(t, []string{"222222"}, codes(map[string]interface{}{"trust": "verified"}))
	require.Equal(t, []string{"444444", "333333", "111111"}, codes(map[string]interface{}{"trust": "unverified"}))
	require.Len(t, codes(map[string]interface{}{"trust": "any"}), 4)

	m := tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil).Data["messages"].([]map[string]interface{})[3]
	require.Equal(t, "evil.example", m["sender_domain"])
	require.Equal(t, mailmsg.TrustUnverified, m["trust"])

	before := snapshot(t, tb.storage)
	for _, bad := range []struct {
		path  string
		data  map[string]interface{}
		field string
	}{
		{"messages", map[string]interface{}{"from": "svc example"}, "from"},
		{"messages", map[string]interface{}{"from": "@svc.example"}, "from"},
		{"messages", map[string]interface{}{"from": "localhost"}, "from"},
		{"messages", map[string]interface{}{"trust": "maybe"}, "trust"},
		{"messages/wait", map[string]interface{}{"from_contains": "svc"}, "from_contains"},
		{"messages/wait", map[string]interface{}{"trust": "unverified"}, "trust"},
		{"messages/wait", map[string]interface{}{"from": "a@b@"}, "from"},
	} {
		resp, err := tb.do(logical.ReadOperation, "agents/bot/"+bad.path, bad.data)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad.data)
		require.True(t, strings.HasPrefix(resp.Error().Error(), bad.field+":"), "%v: %v", bad.data, resp.Error())
	}
	require.Equal(t, before, snapshot(t, tb.storage), "refused requests change nothing")
}

// A flood of huge headers cannot grow the index: summaries are truncated,
// the message itself keeps its whole subject.
func TestSummaryFieldsAreTruncatedInTheIndex(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	long := strings.Repeat("ü", 5000)
	sum := tb.deliverFrom(t, "bot", msgID(1), long, "a@"+strings.Repeat("x", 400)+".example", long, "123456", mailmsg.TrustUnverified)
	require.LessOrEqual(t, len(sum.Subject), maxSummarySubject)
	require.LessOrEqual(t, len(sum.From), maxSummaryFrom)
	require.LessOrEqual(t, len(sum.FromAddress), maxSummaryAddress)
	require.True(t, strings.HasPrefix(long, sum.Subject), "cut on a rune boundary")
	listed := tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil).Data["messages"].([]map[string]interface{})[0]
	require.Equal(t, sum.Subject, listed["subject"])
	read := tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+sum.Key, nil)
	require.Equal(t, long, read.Data["subject"], "the message read has the whole subject")
}

// Mail stored before verdicts existed is unverified, and from= still
// matches its address's domain.
func TestSummaryWithoutVerdictIsUnverified(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	head := mailmsg.Head{ID: msgID(1), ReceivedAt: tb.now(), From: "old@svc.example", FromAddress: "old@svc.example", Subject: "old", Code: "777777"}
	rec, err := json.Marshal(&mailmsg.Message{ID: head.ID, Subject: "old"})
	require.NoError(t, err)
	sum, _, err := tb.storeMessage(ctx, tb.storage, st, &head, rec, []byte("Subject: old\r\n\r\n"), nil)
	require.NoError(t, err)
	sum.Trust, sum.SenderDomain, sum.TrustReason = "", "", "" // as an earlier version wrote it
	require.NoError(t, tb.writeSummary(ctx, tb.storage, st, sum))
	tb.inboxIdx.drop("bot")
	m := tb.ok(t, logical.ReadOperation, "agents/bot/messages", map[string]interface{}{"from": "svc.example"}).Data["messages"].([]map[string]interface{})
	require.Len(t, m, 1)
	require.Equal(t, mailmsg.TrustUnverified, m[0]["trust"])
	require.Equal(t, "svc.example", m[0]["sender_domain"])
	require.Contains(t, m[0]["trust_reason"], "before sender verification")
}

// requireDeniedEvent finds the agent's denied audit event for op.
func requireDeniedEvent(t *testing.T, tb *testBackend, agent, op string) {
	t.Helper()
	events := tb.ok(t, logical.ReadOperation, "agents/"+agent+"/audit", map[string]interface{}{"operation": op}).Data["events"].([]map[string]interface{})
	for _, ev := range events {
		if ev["outcome"] == outcomeDenied {
			return
		}
	}
	t.Fatalf("no denied %s event in %v", op, events)
}
