package plugin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestAgentCreateReadListAndChain(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)

	// A chain cannot be supplied: it is captured from the request.
	resp := tb.request(t, logical.CreateOperation, "agents/billing-bot", map[string]interface{}{"org": "acme", "delegation_chain": "human:mallory"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "delegation_chain: unknown field")

	tb.ok(t, logical.CreateOperation, "agents/billing-bot", map[string]interface{}{
		"org": "acme", "description": "pays invoices", "metadata": map[string]interface{}{"team": "finance"},
	})
	resp = tb.ok(t, logical.ReadOperation, "agents/billing-bot", nil)
	require.Equal(t, "billing-bot@agents.example.com", resp.Data["address"])
	require.Equal(t, "acme", resp.Data["org"])
	require.Equal(t, []string{"human:token-alice", "org:acme", "agent:billing-bot"}, resp.Data["delegation_chain"])
	require.Equal(t, statusActive, resp.Data["status"])
	require.Equal(t, 0, resp.Data["messages_total"])
	require.Equal(t, 0, resp.Data["messages_unread"])
	require.Equal(t, map[string]string{"team": "finance"}, resp.Data["metadata"])
	_, err := time.Parse(time.RFC3339Nano, resp.Data["created_at"].(string))
	require.NoError(t, err)

	// Update changes description; the org is fixed.
	tb.ok(t, logical.UpdateOperation, "agents/billing-bot", map[string]interface{}{"description": "pays bills"})
	resp = tb.request(t, logical.UpdateOperation, "agents/billing-bot", map[string]interface{}{"org": "other"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "org")

	resp = tb.ok(t, logical.ListOperation, "agents/", nil)
	require.Equal(t, []string{"billing-bot"}, resp.Data["keys"])

	resp = tb.ok(t, logical.ReadOperation, "orgs/acme", nil)
	require.Equal(t, []string{"billing-bot"}, resp.Data["agents"])
}

func TestAgentBadInput(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)
	before := snapshot(t, tb.storage)
	cases := []struct {
		name, path string
		data       map[string]interface{}
		field      string
	}{
		{"no org", "agents/a", map[string]interface{}{}, "org"},
		{"missing org", "agents/a", map[string]interface{}{"org": "nope"}, "org"},
		{"bad org name", "agents/a", map[string]interface{}{"org": "../acme"}, "org"},
		{"upper case", "agents/Alice", map[string]interface{}{"org": "acme"}, "agent"},
		{"dotdot", "agents/a..b", map[string]interface{}{"org": "acme"}, "agent"},
		{"only dots", "agents/..", map[string]interface{}{"org": "acme"}, "agent"},
		{"at sign", "agents/a@b", map[string]interface{}{"org": "acme"}, "agent"},
		{"too long", "agents/" + strings.Repeat("a", 65), map[string]interface{}{"org": "acme"}, "agent"},
		{"leading dash", "agents/-a", map[string]interface{}{"org": "acme"}, "agent"},
		{"big description", "agents/a", map[string]interface{}{"org": "acme", "description": strings.Repeat("x", 2000)}, "description"},
		{"big metadata", "agents/a", map[string]interface{}{"org": "acme", "metadata": map[string]interface{}{"k": strings.Repeat("x", 1<<20)}}, "metadata.k"},
		{"unknown field", "agents/a", map[string]interface{}{"org": "acme", "owner": "me"}, "owner"},
		{"org bad name", "orgs/Acme Corp", map[string]interface{}{}, "org"},
		{"org unknown field", "orgs/beta", map[string]interface{}{"colour": "red"}, "colour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.CreateOperation, tc.path, tc.data)
			require.NoError(t, err)
			require.True(t, resp != nil && resp.IsError(), "want a 400, got %v", resp)
			require.Contains(t, resp.Error().Error(), tc.field)
			require.Equal(t, before, snapshot(t, tb.storage))
		})
	}
}

func TestRevocationIsInstantAndSwept(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot", "keep")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw", "totp_secret": rfcSeed})
	tb.ok(t, logical.CreateOperation, "agents/keep/creds/site", map[string]interface{}{"password": "pw2"})
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", nil) // warm the cache

	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)

	// The KEK is gone in storage and every agent path answers 410.
	kek, err := tb.storage.Get(context.Background(), kekPrefix+"bot")
	require.NoError(t, err)
	require.Nil(t, kek)
	for _, p := range []string{"agents/bot/creds/site", "agents/bot/creds/site/totp", "agents/bot/creds/", "agents/bot/policy"} {
		var op logical.Operation = logical.ReadOperation
		if strings.HasSuffix(p, "/") {
			op = logical.ListOperation
		}
		_, err := tb.do(op, p, nil)
		requireCoded(t, err, http.StatusGone)
		require.Contains(t, err.Error(), "revoked")
	}
	_, err = tb.do(logical.UpdateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "x"})
	requireCoded(t, err, http.StatusGone)

	// The tombstone says revoked; the audit trail stays readable and shows
	// the revocation and the denied attempts.
	resp := tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, statusRevoked, resp.Data["status"])
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/audit", nil)
	events := resp.Data["events"].([]map[string]interface{})
	require.Equal(t, opCredWrite, events[0]["operation"])
	require.Equal(t, outcomeDenied, events[0]["outcome"])
	var ops []string
	for _, e := range events {
		ops = append(ops, e["operation"].(string))
	}
	require.Contains(t, ops, opAgentRevoke)

	// The name is never reused: old policies and tokens name its paths.
	resp = tb.request(t, logical.CreateOperation, "agents/bot", map[string]interface{}{"org": "acme"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "not reused")

	// The sweep removes the ciphertext, leaves the other agent alone.
	require.NoError(t, tb.periodic(context.Background(), &logical.Request{Storage: tb.storage}))
	left := snapshot(t, tb.storage)
	for k := range left {
		require.False(t, strings.HasPrefix(k, credVersionPrefix+"bot/") || strings.HasPrefix(k, credMetaPrefix+"bot/"), "left behind: %s", k)
	}
	require.Contains(t, left, credVersionKey("keep", "site", 1))
	tb.ok(t, logical.ReadOperation, "agents/keep/creds/site", nil)

	resp = tb.request(t, logical.CreateOperation, "agents/bot", map[string]interface{}{"org": "acme"})
	require.True(t, resp.IsError(), "not even after the sweep")
	resp = tb.ok(t, logical.ReadOperation, "agents/bot", nil)
	require.Equal(t, statusRevoked, resp.Data["status"])
}
