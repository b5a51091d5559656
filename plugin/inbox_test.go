package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// deliver stores a message from a verified sender as the consumer would,
// bypassing the bus.
func (tb *testBackend) deliver(t *testing.T, agent, id, from, subject, code string) *inboxSummary {
	t.Helper()
	return tb.deliverFrom(t, agent, id, from, from, subject, code, mailmsg.TrustVerified)
}

// deliverFrom stores a message with a From display form, address and
// sender verdict of the test's choosing.
func (tb *testBackend) deliverFrom(t *testing.T, agent, id, display, from, subject, code, trust string) *inboxSummary {
	t.Helper()
	st, err := tb.loadAgent(context.Background(), tb.storage, agent)
	require.NoError(t, err)
	cfg, err := readConfig(context.Background(), tb.storage)
	require.NoError(t, err)
	msg := &mailmsg.Message{ID: id, ReceivedAt: tb.now(), From: display, FromAddress: from, Subject: subject,
		Text: "your code is " + code, ExtractedText: "your code is " + code,
		SenderDomain: domain.OfAddress(from), Trust: trust, TrustReason: "test verdict"}
	if code != "" {
		msg.Codes = []mailmsg.Code{{Code: code, Context: "your code is " + code}}
	}
	raw := []byte("Subject: " + subject + "\r\n\r\nyour code is " + code + "\r\n")
	rec, err := json.Marshal(msg)
	require.NoError(t, err)
	head := msg.Head()
	sum, _, err := tb.storeMessage(context.Background(), tb.storage, st, &head, rec, raw, cfg)
	require.NoError(t, err)
	return sum
}

func msgID(n int) string {
	return fmt.Sprintf("%032d", n)[:0] + strings.Repeat("a", 31) + string(rune('a'+n%26))
}

func TestInboxStoreDedupCountsAndRead(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	s1 := tb.deliver(t, "bot", msgID(1), "a@x.example", "first", "111111")
	again := tb.deliver(t, "bot", msgID(1), "a@x.example", "first", "111111")
	require.Equal(t, s1.Key, again.Key, "a redelivery is the same message")
	tb.deliver(t, "bot", msgID(2), "b@y.example", "second", "")

	resp := tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 2, resp.Data["messages_total"])
	require.Equal(t, 2, resp.Data["messages_unread"])

	resp = tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil)
	list := resp.Data["messages"].([]map[string]interface{})
	require.Len(t, list, 2)
	require.Equal(t, "second", list[0]["subject"], "newest first")

	resp = tb.ok(t, logical.ReadOperation, "agents/bot/messages", map[string]interface{}{"has_code": true})
	require.Len(t, resp.Data["messages"], 1)
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/messages", map[string]interface{}{"from": "Y.EXAMPLE"})
	require.Len(t, resp.Data["messages"], 1)

	resp = tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+s1.Key, nil)
	require.Equal(t, "111111", resp.Data["code"])
	require.Equal(t, false, resp.Data["unread"])
	resp = tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 1, resp.Data["messages_unread"])
	// Reading again does not count twice.
	tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+s1.Key, nil)
	resp = tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 1, resp.Data["messages_unread"])

	tb.ok(t, logical.DeleteOperation, "agents/bot/messages/"+s1.Key, nil)
	resp = tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 1, resp.Data["messages_total"])
	require.Equal(t, 1, resp.Data["messages_unread"])
	_, err := tb.do(logical.ReadOperation, "agents/bot/messages/"+s1.Key, nil)
	requireCoded(t, err, http.StatusNotFound)

	for _, bad := range []map[string]interface{}{{"limit": 0}, {"since": "soon"}, {"unread": "maybe"}, {"after": "x"}, {"colour": 1}} {
		resp, err := tb.do(logical.ReadOperation, "agents/bot/messages", bad)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
	}
	resp, err = tb.do(logical.ReadOperation, "agents/bot/messages/not-an-id", nil)
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "id")
}

func TestInboxRetention(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_inbox_messages": 3, "message_retention": "1h"})
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	// Past max_wait_timeout between messages: no unread one is protected.
	tb.now = func() time.Time { now = now.Add(2 * time.Minute); return now }
	for i := 0; i < 5; i++ {
		tb.deliver(t, "bot", msgID(i), "a@x.example", fmt.Sprint("m", i), "")
	}
	resp := tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 3, resp.Data["messages_total"], "count cap keeps the newest")
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil)
	require.Equal(t, "m4", resp.Data["messages"].([]map[string]interface{})[0]["subject"])

	now = now.Add(2 * time.Hour)
	tb.deliver(t, "bot", msgID(9), "a@x.example", "fresh", "")
	require.NoError(t, tb.periodic(context.Background(), &logical.Request{Storage: tb.storage}))
	resp = tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 1, resp.Data["messages_total"], "age retention removes the old ones")
	require.Equal(t, 1, resp.Data["messages_unread"])
}

// The retention sweep decides from key listings whether an inbox whose
// index is not loaded has anything to remove: it loads only those, so a
// sweep over many agents does not bring every index into memory — and it
// still removes what is due.
func TestRetentionSweepLoadsOnlyInboxesWithWork(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "old", "fresh", "quiet")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"message_retention": "1h"})
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return now }
	tb.deliver(t, "old", msgID(1), "a@x.example", "due", "")
	now = now.Add(2 * time.Hour)
	tb.deliver(t, "fresh", msgID(2), "a@x.example", "kept", "")
	tb.deliver(t, "quiet", msgID(3), "a@x.example", "kept too", "")
	ctx := context.Background()
	tb.clean(ctx) // a new active node: no index loaded
	require.NoError(t, tb.periodic(ctx, &logical.Request{Storage: tb.storage}))
	loaded, _ := tb.indexSizes()
	require.Equal(t, 1, loaded, "only the inbox with a message past retention was loaded")
	for agent, want := range map[string]int{"old": 0, "fresh": 1, "quiet": 1} {
		require.Equal(t, want, tb.ok(t, logical.ReadOperation, "agents/"+agent, nil).Data["messages_total"], agent)
	}
}

// max_loaded_inboxes bounds the indexes held in memory: past it the least
// recently used go (down to nine tenths), and an evicted inbox answers
// the same when used again.
func TestInboxIndexesStayWithinMaxLoadedInboxes(t *testing.T) {
	tb := newTestBackend(t)
	var agents []string
	for i := range 30 {
		agents = append(agents, fmt.Sprintf("bot%02d", i))
	}
	tb.setup(t, agents...)
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_loaded_inboxes": 10})
	for i, a := range agents {
		tb.deliver(t, a, msgID(i), "a@x.example", "hello "+a, "")
		loaded, _ := tb.indexSizes()
		require.LessOrEqual(t, loaded, 10, "after %d inboxes", i+1)
	}
	require.Nil(t, tb.inboxIdx.get(agents[0]), "the least recently used was evicted")
	require.NotNil(t, tb.inboxIdx.get(agents[29]), "the newest stays")
	for _, a := range []string{agents[0], agents[15]} {
		resp := tb.ok(t, logical.ReadOperation, "agents/"+a+"/messages", nil)
		msgs := resp.Data["messages"].([]map[string]interface{})
		require.Len(t, msgs, 1, a)
		require.Equal(t, "hello "+a, msgs[0]["subject"])
	}
	again := tb.deliver(t, agents[0], msgID(0), "a@x.example", "hello "+agents[0], "")
	require.Equal(t, 1, tb.ok(t, logical.ReadOperation, "agents/"+agents[0], nil).Data["messages_total"],
		"a redelivery to an evicted inbox is still stored once (%s)", again.Key)
	resp, err := tb.do(logical.UpdateOperation, "config", map[string]interface{}{"max_loaded_inboxes": 5})
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "max_loaded_inboxes")
}

func TestRevocationMakesMailUnreadableAndSweepsIt(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.deliver(t, "bot", msgID(1), "a@x.example", "s", "424242")
	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	_, err := tb.do(logical.ReadOperation, "agents/bot/messages", nil)
	requireCoded(t, err, http.StatusGone)
	require.NoError(t, tb.periodic(context.Background(), &logical.Request{Storage: tb.storage}))
	for k := range snapshot(t, tb.storage) {
		require.False(t, strings.HasPrefix(k, "inbox"), "left behind: %s", k)
	}
}

// The in-memory index (dedup and counts) is only a cache of storage: after
// Clean it is rebuilt from storage with the same answers, a redelivery is
// still stored once, and a store cut short leaves nothing that counts.
func TestInboxIndexRebuildsFromStorage(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	s1 := tb.deliver(t, "bot", msgID(1), "a@x.example", "first", "111111")
	tb.deliver(t, "bot", msgID(2), "b@y.example", "second", "222222")
	tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+s1.Key, nil) // read one

	counts := func() (interface{}, interface{}) {
		resp := tb.ok(t, logical.ReadOperation, "agents/bot", nil)
		return resp.Data["messages_total"], resp.Data["messages_unread"]
	}
	total, unread := counts()
	require.Equal(t, 2, total)
	require.Equal(t, 1, unread)

	tb.clean(ctx) // a new active node starts with no index
	total, unread = counts()
	require.Equal(t, 2, total)
	require.Equal(t, 1, unread)
	again := tb.deliver(t, "bot", msgID(1), "a@x.example", "first", "111111")
	require.Equal(t, s1.Key, again.Key, "a redelivery after a restart is the same message")
	total, _ = counts()
	require.Equal(t, 2, total)

	// An unread mark of an earlier version without its summary is not
	// counted (the summaries are what count), and an hour-old body
	// without a summary (a store a crash cut short) is swept.
	require.NoError(t, tb.storage.Put(ctx, &logical.StorageEntry{Key: inboxUnreadPrefix + "bot/" + inboxKey(tb.now(), msgID(3))}))
	leftover := inboxKey(tb.now().Add(-2*time.Hour), msgID(4))
	require.NoError(t, tb.storage.Put(ctx, &logical.StorageEntry{Key: inboxRecPrefix + "bot/" + leftover + "/0", Value: []byte("{}")}))
	fresh := inboxKey(tb.now(), msgID(5))
	require.NoError(t, tb.storage.Put(ctx, &logical.StorageEntry{Key: inboxRecPrefix + "bot/" + fresh + "/0", Value: []byte("{}")}))
	tb.clean(ctx)
	total, unread = counts()
	require.Equal(t, 2, total)
	require.Equal(t, 1, unread)
	require.NoError(t, tb.sweepInboxes(ctx, tb.storage))
	e, err := tb.storage.Get(ctx, inboxRecPrefix+"bot/"+leftover+"/0")
	require.NoError(t, err)
	require.Nil(t, e, "an hour-old body without a summary is removed")
	e, err = tb.storage.Get(ctx, inboxRecPrefix+"bot/"+fresh+"/0")
	require.NoError(t, err)
	require.NotNil(t, e, "a recent one may be a store in progress")
	// The stored messages are untouched.
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+s1.Key+"/raw", nil)
	require.NotEmpty(t, resp.Data["raw"])
}

// A small message is one body entry; a large one is chunked; both read
// back byte-exact, and delete removes every entry of either.
func TestInboxBodiesCombinedAndChunked(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	for _, size := range []int{100, inboxChunk - 2000, inboxChunk - 1000, 3*inboxChunk + 17} {
		raw := []byte(strings.Repeat("x", size))
		msg := &mailmsg.Message{ID: msgID(size % 26), ReceivedAt: tb.now(), Subject: fmt.Sprint(size)}
		head, js := msg.Head(), []byte(`{"subject":"`+fmt.Sprint(size)+`"}`)
		sum, fresh, err := tb.storeMessage(ctx, tb.storage, st, &head, js, raw, nil)
		require.NoError(t, err)
		require.True(t, fresh)
		rec, got, err := tb.readBody(ctx, tb.storage, st, sum, true)
		require.NoError(t, err)
		require.Equal(t, raw, got)
		require.Contains(t, string(rec), `"subject":"`+fmt.Sprint(size)+`"`)
		// Small enough for one entry (with room for the summary): the
		// summary is in it and no summary entry is written.
		one := size < inboxChunk-1500
		require.Equal(t, one, sum.Combined, "size %d", size)
		require.Equal(t, one, sum.Embedded, "size %d", size)
		e, err := tb.storage.Get(ctx, inboxSumPrefix+"bot/"+sum.Key)
		require.NoError(t, err)
		require.Equal(t, !one, e != nil, "a summary entry for size %d", size)
		again, err := tb.readSummary(ctx, tb.storage, st, sum.Key)
		require.NoError(t, err)
		wantJSON, _ := json.Marshal(sum)
		gotJSON, _ := json.Marshal(again)
		require.JSONEq(t, string(wantJSON), string(gotJSON))

		tb.ok(t, logical.DeleteOperation, "agents/bot/messages/"+sum.Key, nil)
		for _, p := range []string{inboxRecPrefix, inboxRawPrefix, inboxSumPrefix, inboxUnreadPrefix} {
			keys, err := tb.storage.List(ctx, p+"bot/")
			require.NoError(t, err)
			require.Empty(t, keys, "%s after deleting a %d-byte message", p, size)
		}
	}
}

// Sealed entries: the binary form round-trips, the JSON form of earlier
// versions still reads, and anything cut short or altered does not open.
func TestSealedEntryForms(t *testing.T) {
	kek := &agentKEK{ID: "k1", Key: make([]byte, keySize)}
	ad := inboxAD("m", "bot", "key", "summary")
	box, err := seal(kek, ad, []byte("hello"))
	require.NoError(t, err)
	bin := box.binary()
	js, err := json.Marshal(box)
	require.NoError(t, err)
	for _, form := range [][]byte{bin, js} {
		got, err := parseSealedBox(form)
		require.NoError(t, err)
		plain, err := open(kek, ad, got)
		require.NoError(t, err)
		require.Equal(t, "hello", string(plain))
	}
	for i := range len(bin) {
		got, err := parseSealedBox(bin[:i])
		if err == nil {
			_, err = open(kek, ad, got)
		}
		require.ErrorIs(t, err, ErrDoesNotOpen, "cut at %d", i)
	}
	altered := bytes.Clone(bin)
	altered[len(altered)-1] ^= 1
	got, err := parseSealedBox(altered)
	require.NoError(t, err)
	_, err = open(kek, ad, got)
	require.ErrorIs(t, err, ErrDoesNotOpen)
}

// Many messages stored at once, each delivered twice concurrently (a
// redelivery racing the first delivery), while counts are read and
// messages marked read: every message is stored once and the counts stay
// exact. Run with -race.
func TestInboxConcurrentStoresAndRedeliveries(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	const n = 200
	var wg sync.WaitGroup
	keys := make(chan string, 2*n)
	for i := range n {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("%032d", i)
				head := mailmsg.Head{ID: id, ReceivedAt: tb.now(), Subject: "m"}
				sum, fresh, err := tb.storeMessage(ctx, tb.storage, st, &head, []byte(`{"id":"`+id+`"}`), []byte("raw"), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if fresh {
					keys <- sum.Key
				}
			}()
		}
	}
	// Readers meanwhile.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := tb.inboxCounts(ctx, tb.storage, st); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(keys)
	var stored []string
	for k := range keys {
		stored = append(stored, k)
	}
	require.Len(t, stored, n, "each message stored exactly once")
	// Mark half read, concurrently.
	for _, k := range stored[:n/2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, marked, err := tb.markRead(ctx, tb.storage, st, k)
			if err != nil || !marked {
				t.Errorf("markRead %s: %v %v", k, marked, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	total, unread, err := tb.inboxCounts(ctx, tb.storage, st)
	require.NoError(t, err)
	require.Equal(t, n, total)
	require.Equal(t, n/2, unread)
	bodies, err := tb.storage.List(ctx, inboxRecPrefix+"bot/")
	require.NoError(t, err)
	require.Len(t, bodies, n)
	// The same after a rebuild from storage.
	tb.clean(ctx)
	total, unread, err = tb.inboxCounts(ctx, tb.storage, st)
	require.NoError(t, err)
	require.Equal(t, n, total)
	require.Equal(t, n/2, unread)
}

// countingStorage counts reads by key prefix.
type countingStorage struct {
	logical.Storage
	mu   sync.Mutex
	gets map[string]int
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.mu.Lock()
	if c.gets == nil {
		c.gets = map[string]int{}
	}
	c.gets[strings.SplitN(key, "/", 2)[0]+"/"]++
	c.mu.Unlock()
	return c.Storage.Get(ctx, key)
}

// Once an inbox's index is loaded, listing, filtering, messages/wait and
// counts read no summary from storage; reading a message reads its body.
func TestInboxSummariesServedFromIndex(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	for i := range 5 {
		tb.deliver(t, "bot", msgID(i), "a@x.example", fmt.Sprintf("mail %d", i), fmt.Sprintf("%06d", 100000+i))
	}
	cs := &countingStorage{Storage: tb.storage}
	tb.storage = cs
	tb.ok(t, logical.ReadOperation, "agents/bot/messages", map[string]interface{}{"has_code": true})
	tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	tb.ok(t, logical.ReadOperation, "agents/bot/messages/wait", map[string]interface{}{"timeout": 1, "subject": "mail 3"})
	require.Zero(t, cs.gets[inboxSumPrefix], "summary reads")
	require.Equal(t, 1, cs.gets[inboxRecPrefix], "one body read: the message wait returned")
	resp := tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, 5, resp.Data["messages_total"])
	require.Equal(t, 4, resp.Data["messages_unread"])
}

// A full inbox makes room from the oldest read mail and the oldest unread
// mail past max_wait_timeout, never from unread mail an agent may still be
// waiting for: then the new message is deferred (JetStream keeps it).
func TestFullInboxNeverEvictsYoungUnreadMail(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_inbox_messages": 3, "max_wait_timeout": "60s"})
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return now }
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	cfg, err := tb.config(ctx, tb.storage)
	require.NoError(t, err)
	store := func(n int) error {
		head := mailmsg.Head{ID: msgID(n), ReceivedAt: now, FromAddress: "a@x.example", Subject: fmt.Sprint("m", n)}
		_, _, err := tb.storeMessage(ctx, tb.storage, st, &head, []byte(`{}`), []byte("x"), cfg)
		return err
	}
	subjects := func() []string {
		var out []string
		for _, m := range tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil).Data["messages"].([]map[string]interface{}) {
			out = append(out, m["subject"].(string))
		}
		return out
	}
	require.NoError(t, store(1))
	now = now.Add(time.Second)
	require.NoError(t, store(2))
	now = now.Add(time.Second)
	require.NoError(t, store(3))
	require.ErrorIs(t, store(4), errInboxFull, "three unread messages younger than a minute: none is evicted")
	require.Equal(t, []string{"m3", "m2", "m1"}, subjects())

	// A read message goes first, even if it is the newest.
	newest := tb.ok(t, logical.ReadOperation, "agents/bot/messages", nil).Data["messages"].([]map[string]interface{})[0]
	tb.ok(t, logical.ReadOperation, "agents/bot/messages/"+newest["id"].(string), nil)
	require.NoError(t, store(4))
	require.Equal(t, []string{"m4", "m2", "m1"}, subjects(), "m3 was read: it made room")

	// Past the window, the oldest unread message goes.
	now = now.Add(2 * time.Minute)
	require.NoError(t, store(5))
	require.Equal(t, []string{"m5", "m4", "m2"}, subjects())

	// Bytes count too: with a 16 MiB quota, a second 10 MiB message evicts
	// the first once it is past the window, and is deferred before.
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"max_inbox_messages": 100, "max_inbox_bytes": 16 << 20})
	cfg, err = tb.config(ctx, tb.storage)
	require.NoError(t, err)
	big := func(n int) error {
		head := mailmsg.Head{ID: msgID(n), ReceivedAt: now, FromAddress: "a@x.example", Subject: fmt.Sprint("big", n)}
		_, _, err := tb.storeMessage(ctx, tb.storage, st, &head, []byte(`{}`), bytes.Repeat([]byte("x"), 10<<20), cfg)
		return err
	}
	now = now.Add(time.Second)
	require.NoError(t, big(6))
	require.ErrorIs(t, big(7), errInboxFull, "the small read and old mail is not enough room; big6 is protected")
	require.Equal(t, []string{"big6", "m5", "m4", "m2"}, subjects(), "a deferred store evicts nothing it cannot use")
	now = now.Add(2 * time.Minute)
	require.NoError(t, big(7))
	require.Equal(t, []string{"big7"}, subjects(), "oldest first until 10 MiB more fit in 16 MiB")
}
