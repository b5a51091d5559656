package plugin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/devcerts"
)

func TestConfigDefaultsAndRoundTrip(t *testing.T) {
	tb := newTestBackend(t)

	require.Nil(t, tb.request(t, logical.ReadOperation, "config", nil), "no config before the first write")

	resp := tb.request(t, logical.CreateOperation, "config", map[string]interface{}{
		"domain":        "Agents.Example.COM",
		"nats_url":      "nats://127.0.0.1:4222",
		"nats_username": "mailgent",
		"nats_password": "s3cret-pass",
	})
	require.False(t, resp != nil && resp.IsError(), "%v", resp)

	resp = tb.request(t, logical.ReadOperation, "config", nil)
	require.NotNil(t, resp)
	require.Equal(t, "agents.example.com", resp.Data["domain"])
	require.Equal(t, "nats://127.0.0.1:4222", resp.Data["nats_url"])
	require.Equal(t, "mailgent", resp.Data["nats_username"])
	require.Equal(t, true, resp.Data["nats_password_set"])
	require.Equal(t, defaultMaxInboxMessages, resp.Data["max_inbox_messages"])
	require.Equal(t, int64(defaultMessageRetention.Seconds()), resp.Data["message_retention"])
	require.Equal(t, int64(defaultAuditRetention.Seconds()), resp.Data["audit_retention"])
	require.Equal(t, int64(defaultMaxWaitTimeout.Seconds()), resp.Data["max_wait_timeout"])
	require.Equal(t, defaultSendRateLimit, resp.Data["send_rate_limit"])
	for k, v := range resp.Data {
		require.NotContains(t, fmt.Sprint(v), "s3cret-pass", "field %s leaks the NATS password", k)
	}

	// An update merges: untouched fields keep their values.
	resp = tb.request(t, logical.UpdateOperation, "config", map[string]interface{}{
		"message_retention":  "48h",
		"max_inbox_messages": 50,
	})
	require.False(t, resp != nil && resp.IsError(), "%v", resp)
	resp = tb.request(t, logical.ReadOperation, "config", nil)
	require.Equal(t, "agents.example.com", resp.Data["domain"])
	require.Equal(t, int64(48*3600), resp.Data["message_retention"])
	require.Equal(t, 50, resp.Data["max_inbox_messages"])
	require.Equal(t, true, resp.Data["nats_password_set"])

	// An empty nats_url turns the bus off.
	resp = tb.request(t, logical.UpdateOperation, "config", map[string]interface{}{"nats_url": ""})
	require.False(t, resp != nil && resp.IsError(), "%v", resp)
	resp = tb.request(t, logical.ReadOperation, "config", nil)
	require.Equal(t, "", resp.Data["nats_url"])
}

func TestConfigRejectsBadInputAndChangesNothing(t *testing.T) {
	tb := newTestBackend(t)
	good := map[string]interface{}{"domain": "agents.example.com", "nats_url": "nats://127.0.0.1:4222"}
	resp := tb.request(t, logical.CreateOperation, "config", good)
	require.False(t, resp != nil && resp.IsError(), "%v", resp)
	before, err := tb.storage.Get(context.Background(), configStorageKey)
	require.NoError(t, err)

	cases := []struct {
		name  string
		data  map[string]interface{}
		field string
	}{
		{"unknown field", map[string]interface{}{"max_inbox_mesages": 5}, "max_inbox_mesages"},
		{"two unknown fields", map[string]interface{}{"zeta": 1, "alpha": 2}, "alpha, zeta"},
		{"domain empty", map[string]interface{}{"domain": ""}, "domain"},
		{"domain single label", map[string]interface{}{"domain": "localhost"}, "domain"},
		{"domain bad chars", map[string]interface{}{"domain": "agents_example.com"}, "domain"},
		{"domain with at", map[string]interface{}{"domain": "bob@example.com"}, "domain"},
		{"domain hyphen label", map[string]interface{}{"domain": "-agents.example.com"}, "domain"},
		{"domain empty label", map[string]interface{}{"domain": "agents..example.com"}, "domain"},
		{"domain too long", map[string]interface{}{"domain": strings.Repeat("a.", 130) + "com"}, "domain"},
		{"nats_url scheme", map[string]interface{}{"nats_url": "http://127.0.0.1:4222"}, "nats_url"},
		{"nats_url garbage", map[string]interface{}{"nats_url": "::not a url"}, "nats_url"},
		{"nats_url no host", map[string]interface{}{"nats_url": "nats://:4222"}, "nats_url"},
		{"nats_url bad port", map[string]interface{}{"nats_url": "nats://127.0.0.1:99999"}, "nats_url"},
		{"nats_url userinfo", map[string]interface{}{"nats_url": "nats://u:p@127.0.0.1:4222"}, "nats_url"},
		{"nats_url second of list", map[string]interface{}{"nats_url": "nats://a:4222,ftp://b"}, "nats_url"},
		{"password without user", map[string]interface{}{"nats_password": "x"}, "nats_username"},
		{"inbox negative", map[string]interface{}{"max_inbox_messages": -1}, "max_inbox_messages"},
		{"inbox zero", map[string]interface{}{"max_inbox_messages": 0}, "max_inbox_messages"},
		{"inbox not a number", map[string]interface{}{"max_inbox_messages": "lots"}, "max_inbox_messages"},
		{"rate negative", map[string]interface{}{"send_rate_limit": -5}, "send_rate_limit"},
		{"retention negative", map[string]interface{}{"message_retention": "-1h"}, "message_retention"},
		{"retention too short", map[string]interface{}{"message_retention": "5s"}, "message_retention"},
		{"audit retention garbage", map[string]interface{}{"audit_retention": "forever"}, "audit_retention"},
		{"wait timeout too long", map[string]interface{}{"max_wait_timeout": "1h"}, "max_wait_timeout"},
		{"wait timeout zero", map[string]interface{}{"max_wait_timeout": 0}, "max_wait_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.UpdateOperation, Path: "config", Data: tc.data, Storage: tb.storage,
			})
			require.NoError(t, err)
			require.NotNil(t, resp)
			require.True(t, resp.IsError(), "expected an error response, got %v", resp.Data)
			require.Contains(t, resp.Error().Error(), tc.field)

			after, err := tb.storage.Get(context.Background(), configStorageKey)
			require.NoError(t, err)
			require.Equal(t, string(before.Value), string(after.Value), "storage changed")
		})
	}
}

func TestConfigFirstWriteNeedsDomain(t *testing.T) {
	tb := newTestBackend(t)
	resp := tb.request(t, logical.CreateOperation, "config", map[string]interface{}{"nats_url": "nats://127.0.0.1:4222"})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "domain")
	entry, err := tb.storage.Get(context.Background(), configStorageKey)
	require.NoError(t, err)
	require.Nil(t, entry)
}

// Request paths read the config from memory; a write on this node, or one
// on another node that Invalidate reports, is seen by the next request.
func TestConfigCacheFollowsWrites(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	address := func() interface{} { return tb.ok(t, logical.ReadOperation, "agents/bot", nil).Data["address"] }
	require.Equal(t, "bot@agents.example.com", address())

	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"domain": "mail.example.org"})
	require.Equal(t, "bot@mail.example.org", address(), "a write here")

	// Another node writes: storage changes under us, then Invalidate.
	cfg, err := readConfig(context.Background(), tb.storage)
	require.NoError(t, err)
	cfg.Domain = "other.example.net"
	entry, err := logical.StorageEntryJSON(configStorageKey, cfg)
	require.NoError(t, err)
	require.NoError(t, tb.storage.Put(context.Background(), entry))
	require.Equal(t, "bot@mail.example.org", address(), "cached until told")
	tb.invalidate(context.Background(), configStorageKey)
	require.Equal(t, "bot@other.example.net", address(), "after Invalidate")

	// What a caller gets is a copy: changing it changes nothing.
	got, err := tb.config(context.Background(), tb.storage)
	require.NoError(t, err)
	got.Domain = "changed.example"
	require.Equal(t, "bot@other.example.net", address())
}

// The bus never sends credentials or mail in clear over a network unless
// told to, and a new URL needs the password again.
func TestConfigBusTransportRules(t *testing.T) {
	tb := newTestBackend(t)
	tb.ok(t, logical.CreateOperation, "config", map[string]interface{}{"domain": "agents.example.com",
		"nats_url": "nats://127.0.0.1:4222", "nats_username": "plugin", "nats_password": "pw-1"})
	before := snapshot(t, tb.storage)
	refused := func(data map[string]interface{}, field, contains string) {
		t.Helper()
		resp := tb.request(t, logical.UpdateOperation, "config", data)
		require.True(t, resp != nil && resp.IsError(), "%v accepted", data)
		require.True(t, strings.HasPrefix(resp.Error().Error(), field+":"), "%v", resp.Error())
		require.Contains(t, resp.Error().Error(), contains)
		require.Equal(t, before, snapshot(t, tb.storage), "a refused write changes nothing")
	}
	refused(map[string]interface{}{"nats_url": "nats://127.0.0.2:4222"}, "nats_password", "nats_url changes")
	refused(map[string]interface{}{"nats_url": "nats://nats.internal:4222", "nats_password": "pw-1"}, "nats_url", "plain text")
	refused(map[string]interface{}{"nats_url": "nats://nats.internal:4222", "nats_password": "pw-1", "nats_ca_cert": "not a PEM"}, "nats_ca_cert", "no PEM")

	ca, err := devcerts.Generate(t.TempDir(), []string{"nats.internal"}, time.Hour)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(ca.CA)
	require.NoError(t, err)
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"nats_url": "nats://nats.internal:4222", "nats_password": "pw-2", "nats_ca_cert": string(caPEM)})
	resp := tb.ok(t, logical.ReadOperation, "config", nil)
	require.Equal(t, string(caPEM), resp.Data["nats_ca_cert"])
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"nats_url": "tls://nats.example.com:4222", "nats_password": "pw-3", "nats_ca_cert": ""})
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"nats_url": "nats://10.0.0.5:4222", "nats_password": "pw-4", "nats_allow_plaintext": true})
	// Turning the bus off needs no password.
	tb.ok(t, logical.UpdateOperation, "config", map[string]interface{}{"nats_url": ""})
}
