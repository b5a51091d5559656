package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

var threadT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// in and out make thread items for groupThreads at minute n.
func in(n int, id, msgID, subject string, refs ...string) *threadItem {
	return &threadItem{kind: itemInbox, id: id, at: threadT0.Add(time.Duration(n) * time.Minute), messageID: msgID,
		refs: refs, links: []string{inboxLink(id)}, subject: subject, from: "peer@corp.example"}
}

func out(n int, id, msgID, subject, answers string, refs ...string) *threadItem {
	it := &threadItem{kind: itemSent, id: id, at: threadT0.Add(time.Duration(n) * time.Minute), messageID: msgID,
		refs: refs, subject: subject, from: "bot@agents.example.com", to: []string{"peer@corp.example"}}
	if answers != "" {
		it.links = []string{inboxLink(answers)}
	}
	return it
}

// shape is each thread (newest activity first) as its items' ids, in order.
func shape(cs []*conversation) [][]string {
	var out [][]string
	for _, c := range cs {
		var ids []string
		for _, it := range c.items {
			ids = append(ids, it.id)
		}
		out = append(out, ids)
	}
	return out
}

func TestGroupThreads(t *testing.T) {
	cases := []struct {
		name  string
		items []*threadItem
		want  [][]string
	}{
		{"a reply chain by headers, sent and received", []*threadItem{
			in(0, "i1", "a@corp", "Quote"),
			out(1, "s1", "b@agents", "Re: Quote", "i1", "a@corp"),
			in(2, "i2", "c@corp", "Re: Quote", "a@corp", "b@agents"),
			in(3, "i3", "d@corp", "Other"),
		}, [][]string{{"i3"}, {"i1", "s1", "i2"}}},
		{"replies naming a root the agent never held", []*threadItem{
			in(0, "i1", "x@corp", "Re: Plan", "root@corp"),
			in(5, "i2", "y@corp", "Re: Plan", "root@corp", "x@corp"),
		}, [][]string{{"i1", "i2"}}},
		{"a sent reply linked by the inbox message it answered (no headers kept)", []*threadItem{
			in(0, "i1", "", "Hello"),
			out(1, "s1", "m@agents", "Re: Hello", "i1"),
		}, [][]string{{"i1", "s1"}}},
		{"subject fallback for a headerless reply or forward", []*threadItem{
			in(0, "i1", "a@corp", "Invoice 42"),
			in(1, "i2", "b@corp", "RE: Invoice 42"),
			in(2, "i3", "c@corp", "AW:  invoice   42"),
			in(3, "i4", "d@corp", "Fwd: Re[2]: Invoice 42"),
		}, [][]string{{"i1", "i2", "i3", "i4"}}},
		{"same subject without a reply marker stays apart", []*threadItem{
			in(0, "i1", "a@svc", "Your code"),
			in(1, "i2", "b@svc", "Your code"),
		}, [][]string{{"i2"}, {"i1"}}},
		{"a reply with no original stands alone", []*threadItem{
			in(0, "i1", "a@corp", "Re: Something else"),
			in(1, "i2", "b@corp", "Something"),
		}, [][]string{{"i2"}, {"i1"}}},
		{"newest activity first: an old thread with a new reply leads", []*threadItem{
			in(0, "i1", "a@corp", "Old"),
			in(10, "i2", "b@corp", "Newer"),
			in(20, "i3", "c@corp", "Re: Old", "a@corp"),
		}, [][]string{{"i1", "i3"}, {"i2"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, shape(groupThreads(tc.items)))
		})
	}
}

// A thread's ID is its root's: the same whether or not the agent still
// holds the first message, and different for different threads.
func TestThreadIDFollowsTheRoot(t *testing.T) {
	whole := groupThreads([]*threadItem{in(0, "i1", "root@corp", "Plan"), in(1, "i2", "x@corp", "Re: Plan", "root@corp")})
	rootGone := groupThreads([]*threadItem{in(1, "i2", "x@corp", "Re: Plan", "root@corp")})
	other := groupThreads([]*threadItem{in(0, "i9", "other@corp", "Plan")})
	require.Equal(t, whole[0].id, rootGone[0].id)
	require.NotEqual(t, whole[0].id, other[0].id)
	require.Regexp(t, threadIDRe, whole[0].id)
	require.Equal(t, []string{"peer@corp.example"}, whole[0].participants())
}

func TestNormalizeSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Re: Hello":           "hello",
		"RE:RE: Hello  World": "hello world",
		"Fwd: AW: WG: Hello":  "hello",
		"Re[3]: Hello":        "hello",
		"SV: Hej":             "hej",
		"Antw: Hallo":         "hallo",
		"Reply needed":        "reply needed",
		"Hello":               "hello",
	} {
		got, _ := normalizeSubject(in)
		require.Equal(t, want, got, in)
	}
}

func TestThreadIDsAreBounded(t *testing.T) {
	var refs []string
	for i := range 50 {
		refs = append(refs, fmt.Sprintf("<r%d@corp>", i))
	}
	refs = append(refs, strings.Repeat("x", 300), "<has space@x>")
	got := threadIDs(refs)
	require.Len(t, got, maxThreadRefs)
	require.Equal(t, "r0@corp", got[0], "the root is kept")
	require.Equal(t, "r49@corp", got[len(got)-1], "and the latest")
}

// storeHeaded stores an inbox message with threading headers, as the
// consumer does.
func storeHeaded(t *testing.T, tb *testBackend, n int, subject, messageID, inReplyTo string, refs ...string) string {
	t.Helper()
	ctx := context.Background()
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	head := mailmsg.Head{ID: msgID(n), ReceivedAt: tb.now(), From: "Peer <peer@corp.example>", FromAddress: "peer@corp.example",
		Subject: subject, MessageID: messageID, InReplyTo: inReplyTo, References: refs}
	rec, err := json.Marshal(&mailmsg.Message{ID: head.ID, Subject: subject, MessageID: messageID})
	require.NoError(t, err)
	sum, _, err := tb.storeMessage(ctx, tb.storage, st, &head, rec, []byte("Subject: "+subject+"\r\n\r\nhi\r\n"), nil)
	require.NoError(t, err)
	return sum.Key
}

// The paths: a reply to sent mail forms a thread with it; paging, reads,
// bad input, the audit trail, and the sent index kept current.
func TestThreadPaths(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	clock := threadT0
	tb.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)

	first := storeHeaded(t, tb, 1, "Order 7", "o7@corp.example", "")
	for i := range 3 {
		storeHeaded(t, tb, 10+i, fmt.Sprintf("Newsletter %d", i), fmt.Sprintf("n%d@news.example", i), "")
	}
	// Listing loads the sent index (empty); a send afterwards must show.
	tb.ok(t, logical.ReadOperation, "agents/bot/threads", nil)
	sent := &sentRecord{ID: reverseTime(tb.now()) + "-0123456789ab", MessageID: "r1@agents.example.com", To: []string{"peer@corp.example"},
		Subject: "Re: Order 7", InReplyTo: first, References: []string{"o7@corp.example"}, Status: "sent", QueuedAt: tb.now()}
	require.NoError(t, tb.writeSent(ctx, tb.storage, st, sent))
	reply := storeHeaded(t, tb, 2, "Re: Order 7", "p2@corp.example", "r1@agents.example.com", "o7@corp.example", "r1@agents.example.com")

	resp := tb.ok(t, logical.ReadOperation, "agents/bot/threads", map[string]interface{}{"limit": 2})
	threads := resp.Data["threads"].([]map[string]interface{})
	require.Len(t, threads, 2)
	top := threads[0]
	require.Equal(t, "Order 7", top["subject"])
	require.Equal(t, 3, top["message_count"])
	require.Equal(t, []string{first}, top["inbox_ids"].([]string)[:1])
	require.Equal(t, []string{first, reply}, top["inbox_ids"])
	require.Equal(t, []string{sent.ID}, top["sent_ids"])
	require.Equal(t, []string{"bot@agents.example.com", "peer@corp.example"}, top["participants"])
	require.Equal(t, 2, top["unread"])
	kinds := []string{}
	for _, m := range top["messages"].([]map[string]interface{}) {
		kinds = append(kinds, m["kind"].(string))
	}
	require.Equal(t, []string{"inbox", "sent", "inbox"}, kinds)

	// The next pages hold the other threads, each once.
	seen := map[string]bool{top["id"].(string): true, threads[1]["id"].(string): true}
	for next := resp.Data["next_cursor"].(string); next != ""; {
		page := tb.ok(t, logical.ReadOperation, "agents/bot/threads", map[string]interface{}{"limit": 2, "after": next})
		for _, th := range page.Data["threads"].([]map[string]interface{}) {
			require.False(t, seen[th["id"].(string)])
			seen[th["id"].(string)] = true
		}
		next = page.Data["next_cursor"].(string)
	}
	require.Len(t, seen, 4)
	list := tb.ok(t, logical.ListOperation, "agents/bot/threads/", nil)
	require.Len(t, list.Data["keys"], 4)

	one := tb.ok(t, logical.ReadOperation, "agents/bot/threads/"+top["id"].(string), nil)
	msgs := one.Data["messages"].([]map[string]interface{})
	require.Equal(t, "bot@agents.example.com", msgs[1]["from"])
	require.Equal(t, []string{"peer@corp.example"}, msgs[1]["to"])
	require.Equal(t, "sent", msgs[1]["status"])
	require.Equal(t, "Re: Order 7", msgs[2]["subject"])

	for _, bad := range []struct {
		op   logical.Operation
		path string
		data map[string]interface{}
		code int
	}{
		{logical.ReadOperation, "agents/bot/threads/0123456789abcdef01234567", nil, http.StatusNotFound},
		{logical.ReadOperation, "agents/bot/threads/nope", nil, http.StatusBadRequest},
		{logical.ReadOperation, "agents/bot/threads", map[string]interface{}{"after": "garbage"}, http.StatusBadRequest},
		{logical.ReadOperation, "agents/bot/threads", map[string]interface{}{"limit": 0}, http.StatusBadRequest},
		{logical.ReadOperation, "agents/bot/threads", map[string]interface{}{"subject": "x"}, http.StatusBadRequest},
		{logical.ReadOperation, "agents/nobody/threads", nil, http.StatusNotFound},
	} {
		r, err := tb.do(bad.op, bad.path, bad.data)
		status, msg := vaultStatus(bad.op, r, err)
		require.Equal(t, bad.code, status, "%s %v: %s", bad.path, bad.data, msg)
	}
	events := tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": "thread.*"}).Data["events"].([]map[string]interface{})
	require.GreaterOrEqual(t, len(events), 5)

	// Another node changed a sent record: the index is dropped and reloaded.
	tb.invalidate(ctx, sentPrefix+"bot/"+sent.ID)
	again := tb.ok(t, logical.ReadOperation, "agents/bot/threads/"+top["id"].(string), nil)
	require.Equal(t, 3, again.Data["message_count"])
}
