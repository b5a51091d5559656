package plugin

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// rfcSeed is the RFC 6238 Appendix B SHA1 seed, "12345678901234567890".
var rfcSeed = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

func TestCredentialWriteReadVersions(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")

	resp := tb.ok(t, logical.CreateOperation, "agents/bot/creds/github.com", map[string]interface{}{
		"username":    "bot@agents.example.com",
		"password":    "pa55word-one",
		"totp_secret": strings.ToLower(rfcSeed[:8]) + " " + rfcSeed[8:],
		"url":         "https://github.com/login",
		"fields":      map[string]interface{}{"api_key": "ghp_abc123"},
	})
	require.Equal(t, 1, resp.Data["version"])

	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/github.com", nil)
	require.Equal(t, "pa55word-one", resp.Data["password"])
	require.Equal(t, "bot@agents.example.com", resp.Data["username"])
	require.Equal(t, map[string]string{"api_key": "ghp_abc123"}, resp.Data["fields"])
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA1", "digits": 6, "period": 30}, resp.Data["totp"])
	requireNoSeed(t, resp.Data, rfcSeed)

	// An update merges: the seed survives a password change.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/github.com", map[string]interface{}{"password": "pa55word-two"})
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/github.com", nil)
	require.Equal(t, 2, resp.Data["version"])
	require.Equal(t, "pa55word-two", resp.Data["password"])
	require.Equal(t, true, resp.Data["totp"].(map[string]interface{})["enabled"])
	require.Equal(t, "bot@agents.example.com", resp.Data["username"])

	// Older versions stay readable.
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/github.com", map[string]interface{}{"version": 1})
	require.Equal(t, "pa55word-one", resp.Data["password"])
	require.Equal(t, []int{1, 2}, resp.Data["versions"])

	// cas: right version passes, wrong one is refused and changes nothing.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/github.com", map[string]interface{}{"password": "three", "cas": 2})
	resp = tb.request(t, logical.UpdateOperation, "agents/bot/creds/github.com", map[string]interface{}{"password": "four", "cas": 2})
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "cas")
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/github.com", nil)
	require.Equal(t, "three", resp.Data["password"])

	// max_versions prunes the oldest.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/github.com", map[string]interface{}{"max_versions": 2, "password": "five"})
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/github.com", nil)
	require.Equal(t, []int{3, 4}, resp.Data["versions"])
	_, err := tb.do(logical.ReadOperation, "agents/bot/creds/github.com", map[string]interface{}{"version": 1})
	requireCoded(t, err, http.StatusNotFound)
	keys, err := tb.storage.List(context.Background(), credVersionPrefix+"bot/github.com/")
	require.NoError(t, err)
	sort.Strings(keys)
	require.Equal(t, []string{"3", "4"}, keys, "pruned versions are deleted from storage")

	// List shows names and metadata, no secrets.
	resp = tb.ok(t, logical.ListOperation, "agents/bot/creds/", nil)
	require.Equal(t, []string{"github.com"}, resp.Data["keys"])
	b, _ := json.Marshal(resp.Data)
	require.NotContains(t, string(b), "five")
	require.NotContains(t, string(b), "ghp_abc123")

	// Delete removes every version.
	tb.ok(t, logical.DeleteOperation, "agents/bot/creds/github.com", nil)
	_, err = tb.do(logical.ReadOperation, "agents/bot/creds/github.com", nil)
	requireCoded(t, err, http.StatusNotFound)
	keys, err = tb.storage.List(context.Background(), credVersionPrefix+"bot/github.com/")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestCredentialTOTPFromURI(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	seed := base32.StdEncoding.EncodeToString([]byte("12345678901234567890123456789012"))
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/aws", map[string]interface{}{
		"totp_uri": "otpauth://totp/AWS:bot@agents.example.com?secret=" + seed + "&issuer=AWS&algorithm=SHA256&digits=8&period=60",
	})
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/aws", nil)
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA256", "digits": 8, "period": 60, "issuer": "AWS", "account": "bot@agents.example.com"}, resp.Data["totp"])
	requireNoSeed(t, resp.Data, seed)
}

func TestCredentialBadInputChangesNothing(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "keep-me", "totp_secret": rfcSeed})
	before := snapshot(t, tb.storage)

	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name, path string
		data       map[string]interface{}
		field      string
	}{
		{"bad base32", "agents/bot/creds/site", map[string]interface{}{"totp_secret": "not base32 !!!"}, "totp_secret"},
		{"short seed", "agents/bot/creds/site", map[string]interface{}{"totp_secret": "JBSWY3DP"}, "totp_secret"},
		{"uri not otpauth", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "https://example.com/?secret=" + rfcSeed}, "totp_uri"},
		{"uri hotp", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "otpauth://hotp/x?secret=" + rfcSeed + "&counter=1"}, "totp_uri"},
		{"uri bad secret", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "otpauth://totp/x?secret=1111"}, "totp_uri"},
		{"uri bad algorithm", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "otpauth://totp/x?secret=" + rfcSeed + "&algorithm=MD5"}, "totp_uri"},
		{"uri digits 7", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "otpauth://totp/x?secret=" + rfcSeed + "&digits=7"}, "totp_uri"},
		{"uri and secret", "agents/bot/creds/site", map[string]interface{}{"totp_uri": "otpauth://totp/x?secret=" + rfcSeed, "totp_secret": rfcSeed}, "totp_uri"},
		{"digits 7", "agents/bot/creds/site", map[string]interface{}{"totp_digits": 7}, "totp_digits"},
		{"period 0", "agents/bot/creds/site", map[string]interface{}{"totp_period": 0}, "totp_period"},
		{"period negative", "agents/bot/creds/site", map[string]interface{}{"totp_period": -30}, "totp_period"},
		{"unknown algorithm", "agents/bot/creds/site", map[string]interface{}{"totp_algorithm": "MD5"}, "totp_algorithm"},
		{"wrong cas", "agents/bot/creds/site", map[string]interface{}{"password": "x", "cas": 7}, "cas"},
		{"cas on new cred", "agents/bot/creds/other", map[string]interface{}{"password": "x", "cas": 1}, "cas"},
		{"max_versions 0", "agents/bot/creds/site", map[string]interface{}{"max_versions": 0}, "max_versions"},
		{"1 MiB field", "agents/bot/creds/site", map[string]interface{}{"fields": map[string]interface{}{"blob": big}}, "fields.blob"},
		{"1 MiB password", "agents/bot/creds/site", map[string]interface{}{"password": big}, "password"},
		{"1 MiB username", "agents/bot/creds/other", map[string]interface{}{"username": big}, "username"},
		{"bad url", "agents/bot/creds/site", map[string]interface{}{"url": "not a url"}, "url"},
		{"unknown field", "agents/bot/creds/site", map[string]interface{}{"pasword": "x"}, "pasword"},
		{"version on write", "agents/bot/creds/site", map[string]interface{}{"version": 1}, "version"},
		{"cred dotdot", "agents/bot/creds/..", map[string]interface{}{"password": "x"}, "cred"},
		{"cred overlong", "agents/bot/creds/" + strings.Repeat("a", 200), map[string]interface{}{"password": "x"}, "cred"},
		{"cred bad chars", "agents/bot/creds/a%20b", map[string]interface{}{"password": "x"}, "cred"},
		{"agent dotdot", "agents/../creds/site", map[string]interface{}{"password": "x"}, "agent"},
		{"agent upper", "agents/Bot/creds/site", map[string]interface{}{"password": "x"}, "agent"},
		{"agent overlong", "agents/" + strings.Repeat("a", 65) + "/creds/site", map[string]interface{}{"password": "x"}, "agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.UpdateOperation, tc.path, tc.data)
			require.NoError(t, err)
			require.NotNil(t, resp)
			require.True(t, resp.IsError(), "want a 400, got %v", resp.Data)
			require.Contains(t, resp.Error().Error(), tc.field)
			require.NotContains(t, resp.Error().Error(), rfcSeed, "an error never echoes a seed")
			require.Equal(t, before, snapshot(t, tb.storage), "storage changed")
		})
	}
}

func TestSeedNeverLeavesAnyPath(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	uri := "otpauth://totp/Example:bot?secret=" + rfcSeed + "&issuer=Example"
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"totp_uri": uri, "password": "pw-123456"})
	reads := []struct {
		op   logical.Operation
		path string
	}{
		{logical.ReadOperation, "agents/bot/creds/site"},
		{logical.ListOperation, "agents/bot/creds/"},
		{logical.ReadOperation, "agents/bot/creds/site/totp"},
		{logical.ReadOperation, "agents/bot"},
		{logical.ReadOperation, "agents/bot/audit"},
		{logical.ListOperation, "agents/bot/audit"},
		{logical.ReadOperation, "agents/bot/policy"},
		{logical.ReadOperation, "config"},
	}
	for _, r := range reads {
		resp := tb.ok(t, r.op, r.path, nil)
		requireNoSeed(t, resp.Data, rfcSeed)
	}
	// The stored entries hold no seed in clear either.
	for k, v := range snapshot(t, tb.storage) {
		require.NotContains(t, strings.ToUpper(v), rfcSeed, "storage entry %s", k)
	}
}

func TestTamperedOrMovedCiphertextFailsClearly(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot", "other")
	ctx := context.Background()
	write := func(agent, cred, pw string) {
		tb.ok(t, logical.CreateOperation, fmt.Sprintf("agents/%s/creds/%s", agent, cred), map[string]interface{}{"password": pw})
	}
	write("bot", "a", "pw-a")
	write("bot", "b", "pw-b")
	write("other", "a", "pw-other")
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/a", map[string]interface{}{"password": "pw-a2"})

	readErr := func(path string, data map[string]interface{}) error {
		tb.agents.reset()
		tb.creds.reset()
		_, err := tb.do(logical.ReadOperation, path, data)
		return err
	}
	copyEntry := func(from, to string) {
		e, err := tb.storage.Get(ctx, from)
		require.NoError(t, err)
		require.NoError(t, tb.storage.Put(ctx, &logical.StorageEntry{Key: to, Value: e.Value}))
	}

	// Flip one bit of the ciphertext.
	key := credVersionKey("bot", "a", 2)
	e, err := tb.storage.Get(ctx, key)
	require.NoError(t, err)
	var box sealedBox
	require.NoError(t, json.Unmarshal(e.Value, &box))
	box.Ciphertext[len(box.Ciphertext)-1] ^= 1
	require.NoError(t, putJSON(ctx, tb.storage, key, &box))
	err = readErr("agents/bot/creds/a", nil)
	require.ErrorIs(t, err, ErrDoesNotOpen)
	require.Contains(t, err.Error(), "does not decrypt")

	// Version 1 copied over version 2 of the same credential.
	copyEntry(credVersionKey("bot", "a", 1), credVersionKey("bot", "a", 2))
	require.ErrorIs(t, readErr("agents/bot/creds/a", nil), ErrDoesNotOpen)

	// Another credential's entry under this one.
	copyEntry(credVersionKey("bot", "b", 1), credVersionKey("bot", "a", 1))
	require.ErrorIs(t, readErr("agents/bot/creds/a", map[string]interface{}{"version": 1}), ErrDoesNotOpen)

	// Another agent's entry (and its metadata) under this agent.
	copyEntry(credMetaKey("other", "a"), credMetaKey("bot", "c"))
	copyEntry(credVersionKey("other", "a", 1), credVersionKey("bot", "c", 1))
	require.ErrorIs(t, readErr("agents/bot/creds/c", nil), ErrDoesNotOpen)

	// The failures are in the audit trail as errors.
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": "cred.read"})
	events := resp.Data["events"].([]map[string]interface{})
	require.Equal(t, outcomeError, events[0]["outcome"])
}

func TestEntryFromAnotherMountDoesNotOpen(t *testing.T) {
	a, b := newTestBackend(t), newTestBackend(t)
	b.mountID = "another-mount"
	a.setup(t, "bot")
	a.ok(t, logical.CreateOperation, "agents/bot/creds/x", map[string]interface{}{"password": "pw"})
	// Copy the whole storage, KEK included: only the mount differs.
	for k, v := range snapshot(t, a.storage) {
		require.NoError(t, b.storage.Put(context.Background(), &logical.StorageEntry{Key: k, Value: []byte(v)}))
	}
	_, err := b.do(logical.ReadOperation, "agents/bot/creds/x", nil)
	require.ErrorIs(t, err, ErrDoesNotOpen)
}

// snapshot returns every storage entry except the audit trail.
func snapshot(t *testing.T, s logical.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := s.List(context.Background(), prefix)
		require.NoError(t, err)
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, err := s.Get(context.Background(), prefix+k)
			require.NoError(t, err)
			out[prefix+k] = string(e.Value)
		}
	}
	walk("")
	for k := range out {
		if strings.HasPrefix(k, auditPrefix) {
			delete(out, k)
		}
	}
	return out
}

func requireNoSeed(t *testing.T, data map[string]interface{}, seed string) {
	t.Helper()
	b, err := json.Marshal(data)
	require.NoError(t, err)
	upper := strings.ToUpper(string(b))
	require.NotContains(t, upper, seed)
	require.NotContains(t, upper, strings.TrimRight(seed, "="))
	require.NotContains(t, upper, "SECRET=")
}

func requireCoded(t *testing.T, err error, code int) {
	t.Helper()
	require.Error(t, err)
	coded, ok := err.(logical.HTTPCodedError)
	require.True(t, ok, "want an HTTP %d error, got %v", code, err)
	require.Equal(t, code, coded.Code(), err.Error())
}

func TestSeedRotationKeepsParameters(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": rfcSeed, "totp_algorithm": "sha256", "totp_digits": 8, "totp_period": 60})
	newSeed := base32.StdEncoding.EncodeToString([]byte("abcdefghijabcdefghij"))
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": newSeed})
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/s", nil)
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA256", "digits": 8, "period": 60}, resp.Data["totp"])
	// A URI brings its own parameters.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_uri": "otpauth://totp/x?secret=" + newSeed})
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/s", nil)
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA1", "digits": 6, "period": 30, "account": "x"}, resp.Data["totp"])
}
