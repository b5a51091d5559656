package plugin

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

func TestSentAndRateCountersAreSwept(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"message_retention": "1h"})
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	tb.now = func() time.Time { return now }
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	old := &sentRecord{ID: fmt.Sprintf("%019d-%s", math.MaxInt64-now.Add(-2*time.Hour).UnixNano(), "aaaaaaaaaaaa"), Status: "sent"}
	fresh := &sentRecord{ID: fmt.Sprintf("%019d-%s", math.MaxInt64-now.Add(-time.Minute).UnixNano(), "bbbbbbbbbbbb"), Status: "sent"}
	require.NoError(t, tb.writeSent(ctx, tb.storage, st, old))
	require.NoError(t, tb.writeSent(ctx, tb.storage, st, fresh))
	for _, h := range []string{"2026112610", "2026112612"} {
		require.NoError(t, tb.storage.Put(ctx, &logical.StorageEntry{Key: sendRatePrefix + "bot/" + h, Value: []byte("3")}))
	}
	require.NoError(t, tb.periodic(ctx, &logical.Request{Storage: tb.storage}))
	keys, err := tb.storage.List(ctx, sentPrefix+"bot/")
	require.NoError(t, err)
	require.Equal(t, []string{fresh.ID}, keys)
	keys, err = tb.storage.List(ctx, sendRatePrefix+"bot/")
	require.NoError(t, err)
	require.Equal(t, []string{"2026112612"}, keys)
}

// sent/ lists an agent's records newest first, by status, in pages;
// sent/:id reads one.
func TestSentListAndRead(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	ctx := context.Background()
	st, err := tb.loadAgent(ctx, tb.storage, "bot")
	require.NoError(t, err)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var ids []string // oldest first
	for i, status := range []string{bus.StatusSent, bus.StatusFailed, bus.StatusSent, bus.StatusQueued} {
		id := fmt.Sprintf("%019d-%012x", math.MaxInt64-base.Add(time.Duration(i)*time.Minute).UnixNano(), i)
		require.NoError(t, tb.writeSent(ctx, tb.storage, st, &sentRecord{ID: id, Status: status, To: []string{"a@x.example"}}))
		ids = append(ids, id)
	}
	list := func(data map[string]interface{}) ([]string, string) {
		resp := tb.ok(t, logical.ReadOperation, "agents/bot/sent", data)
		var got []string
		for _, m := range resp.Data["messages"].([]map[string]interface{}) {
			got = append(got, m["id"].(string))
			require.Equal(t, "bot@"+testDomain, m["from"])
		}
		return got, resp.Data["next_cursor"].(string)
	}
	got, next := list(nil)
	require.Equal(t, []string{ids[3], ids[2], ids[1], ids[0]}, got, "newest first")
	require.Empty(t, next)
	got, _ = list(map[string]interface{}{"status": bus.StatusSent})
	require.Equal(t, []string{ids[2], ids[0]}, got)
	got, next = list(map[string]interface{}{"limit": 3})
	require.Equal(t, []string{ids[3], ids[2], ids[1]}, got)
	got, next = list(map[string]interface{}{"limit": 3, "after": next})
	require.Equal(t, []string{ids[0]}, got)
	require.Empty(t, next)
	require.Equal(t, []string{ids[3], ids[2], ids[1], ids[0]}, tb.ok(t, logical.ListOperation, "agents/bot/sent/", nil).Data["keys"])

	resp := tb.ok(t, logical.ReadOperation, "agents/bot/sent/"+ids[1], nil)
	require.Equal(t, bus.StatusFailed, resp.Data["status"])
	require.Equal(t, []string{"a@x.example"}, resp.Data["to"])
	require.Equal(t, []string{}, resp.Data["cc"])

	missing := fmt.Sprintf("%019d-%012x", 1, 9)
	_, err = tb.do(logical.ReadOperation, "agents/bot/sent/"+missing, nil)
	requireCoded(t, err, http.StatusNotFound)
	for _, bad := range []struct {
		path  string
		data  map[string]interface{}
		field string
	}{
		{"agents/bot/sent", map[string]interface{}{"status": "lost"}, "status"},
		{"agents/bot/sent", map[string]interface{}{"limit": 0}, "limit"},
		{"agents/bot/sent", map[string]interface{}{"after": "x"}, "after"},
		{"agents/bot/sent", map[string]interface{}{"colour": "red"}, "colour"},
		{"agents/bot/sent/not-an-id", nil, "id"},
	} {
		resp, err := tb.do(logical.ReadOperation, bad.path, bad.data)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
		require.True(t, strings.HasPrefix(resp.Error().Error(), bad.field), resp.Error().Error())
	}

	// A revoked agent's records are gone with its key: 410, not recorded.
	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	_, err = tb.do(logical.ReadOperation, "agents/bot/sent", nil)
	requireCoded(t, err, http.StatusGone)
	_, err = tb.do(logical.ReadOperation, "agents/bot/sent/"+ids[0], nil)
	requireCoded(t, err, http.StatusGone)
}
