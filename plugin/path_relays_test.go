package plugin

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

// registration makes a relay key and its registration fields.
func registration(t *testing.T) (*bus.RelayKey, map[string]interface{}) {
	t.Helper()
	k, err := bus.GenerateRelayKey()
	require.NoError(t, err)
	pub, err := k.Public()
	require.NoError(t, err)
	reg := pub.Registration()
	return k, map[string]interface{}{"signing_key": reg["signing_key"], "sealing_key": reg["sealing_key"]}
}

// A registered relay is read and listed by name with its key ID, known to
// the registry the consumer checks inbound mail against, and gone from it
// when deregistered.
func TestRelayRegistration(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)
	key, fields := registration(t)
	id := bus.KeyID(key.Signing.Public().(ed25519.PublicKey))

	resp := tb.ok(t, logical.CreateOperation, "config/relays/relay-1", fields)
	require.Equal(t, id, resp.Data["key_id"])
	require.Equal(t, "token-alice", resp.Data["created_by"])
	read := tb.ok(t, logical.ReadOperation, "config/relays/relay-1", nil)
	require.Equal(t, fields["signing_key"], read.Data["signing_key"])
	require.Equal(t, fields["sealing_key"], read.Data["sealing_key"])
	list := tb.ok(t, logical.ListOperation, "config/relays/", nil)
	require.Equal(t, []string{"relay-1"}, list.Data["keys"])
	require.Equal(t, map[string]interface{}{"relay-1": map[string]interface{}{"key_id": id}}, list.Data["key_info"])

	set, err := tb.relays(context.Background(), tb.storage)
	require.NoError(t, err)
	require.Len(t, set.publics(), 1)
	require.Equal(t, key.Signing.Public().(ed25519.PublicKey), tb.relayReg.SigningKey(id))

	tb.ok(t, logical.DeleteOperation, "config/relays/relay-1", nil)
	require.Nil(t, tb.request(t, logical.ReadOperation, "config/relays/relay-1", nil))
	require.Nil(t, tb.relayReg.SigningKey(id), "the consumer no longer accepts its mail")
	set, err = tb.relays(context.Background(), tb.storage)
	require.NoError(t, err)
	require.Empty(t, set.publics(), "no relay to seal outbound mail to")
}

// Bad registrations are refused naming the field, and change nothing; a
// key another relay holds is refused too.
func TestRelayRegistrationRefusals(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t)
	_, fields := registration(t)
	tb.ok(t, logical.CreateOperation, "config/relays/relay-1", fields)
	_, other := registration(t)
	before := snapshot(t, tb.storage)
	for _, tc := range []struct {
		name, path string
		data       map[string]interface{}
		field      string
	}{
		{"key of another relay", "config/relays/relay-2", fields, "signing_key"},
		{"signing key not base64", "config/relays/relay-2", map[string]interface{}{"signing_key": "!!", "sealing_key": other["sealing_key"]}, "signing_key"},
		{"sealing key missing", "config/relays/relay-2", map[string]interface{}{"signing_key": other["signing_key"]}, "sealing_key"},
		{"unknown field", "config/relays/relay-2", map[string]interface{}{"signing_key": other["signing_key"], "sealing_key": other["sealing_key"], "url": "x"}, "url"},
		{"bad name", "config/relays/Relay_2!", other, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.UpdateOperation, tc.path, tc.data)
			require.NoError(t, err)
			require.True(t, resp != nil && resp.IsError(), "%v", resp)
			require.True(t, strings.HasPrefix(resp.Error().Error(), tc.field), resp.Error().Error())
			require.Equal(t, before, snapshot(t, tb.storage))
		})
	}
	// Re-registering a relay under its name replaces its keys.
	tb.ok(t, logical.UpdateOperation, "config/relays/relay-1", other)
	require.Equal(t, other["signing_key"], tb.ok(t, logical.ReadOperation, "config/relays/relay-1", nil).Data["signing_key"])
	resp, err := tb.do(logical.DeleteOperation, "config/relays/Relay_2!", nil)
	require.NoError(t, err)
	require.True(t, resp.IsError(), "a bad name is a 400 on delete too")
}
