package integration

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/rfc6238"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/onboard"
)

// recorder sends raw HTTP requests to Vault and keeps every response body,
// so the test can grep all of them for secrets at the end.
type recorder struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	seen []recorded
}

type recorded struct {
	method, path string
	status       int
	body         string
}

func (r *recorder) call(token, method, path string, body interface{}) (int, map[string]interface{}) {
	r.t.Helper()
	status, raw, err := vaultCall(http.DefaultClient, r.addr, token, method, path, body)
	require.NoError(r.t, err)
	r.mu.Lock()
	r.seen = append(r.seen, recorded{method, path, status, string(raw)})
	r.mu.Unlock()
	var out map[string]interface{}
	if len(raw) > 0 {
		require.NoError(r.t, json.Unmarshal(raw, &out), string(raw))
	}
	return status, out
}

// must calls and requires a 2xx status.
func (r *recorder) must(token, method, path string, body interface{}) map[string]interface{} {
	r.t.Helper()
	status, out := r.call(token, method, path, body)
	require.True(r.t, status >= 200 && status < 300, "%s %s → %d %v", method, path, status, out)
	if out == nil {
		return nil
	}
	data, _ := out["data"].(map[string]interface{})
	return data
}

func TestAgentIdentityOnRealVault(t *testing.T) {
	ctx := context.Background()
	v := harness.StartVault(t)
	a := setupMount(t, v, "mailgent")
	rec := &recorder{t: t, addr: v.Addr}
	root := v.Token

	// An administrator with the documented admin policy (no root, no policy
	// writes) onboards agent A through the library; root onboards agent B
	// through the CLI.
	admin := tokenWith(t, v, "alice", "mailgent-admin", examplePolicy(t, "mailgent-admin.hcl", a))
	resA, err := onboard.Run(ctx, admin, onboard.Options{Mount: "mailgent", Org: "acme", CreateOrg: true, Agent: "agent-a", Description: "finance"})
	require.NoError(t, err)
	require.Equal(t, "agent-a@agents.example.com", resA.Address)
	// A token without an entity: the chain names its display name.
	require.Equal(t, []string{"human:token-alice", "org:acme", "agent:agent-a"}, resA.Chain)
	require.True(t, strings.HasPrefix(resA.WrappingToken, "hvs.") || resA.WrappingToken != "", "a wrapping token")

	cli := exec.Command(harness.Own(t, "mailgent"), "onboard", "-org", "acme", "-agent", "agent-b", "-json")
	cli.Env = append(cli.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+root)
	out, err := cli.Output()
	require.NoError(t, err, string(out))
	var resB onboard.Result
	require.NoError(t, json.Unmarshal(out, &resB))
	require.Equal(t, "agent-b", resB.Agent)

	// The wrapped secret ID unwraps once.
	login := func(r *onboard.Result) (*client.Client, error) {
		cfg := api.DefaultConfig()
		cfg.Address = v.Addr
		return client.LoginAppRole(ctx, cfg, client.AppRole{Mount: "mailgent", Agent: r.Agent, AppRoleMount: r.AppRoleMount, RoleID: r.RoleID, WrappedSecretID: r.WrappingToken})
	}
	clientA, err := login(resA)
	require.NoError(t, err)
	_, err = login(resA)
	require.Error(t, err, "a wrapping token is single-use")
	clientB, err := login(&resB)
	require.NoError(t, err)
	tokA, tokB := clientA.Vault().Token(), clientB.Vault().Token()

	// Agent A stores a credential with a TOTP seed, reads it, gets codes.
	seedBytes := []byte("12345678901234567890123456789012")
	seed := base32.StdEncoding.EncodeToString(seedBytes)
	password := "correct-horse-battery-staple"
	rec.must(tokA, "POST", "mailgent/agents/agent-a/creds/aws", map[string]interface{}{
		"username": "agent-a", "password": password, "url": "https://aws.amazon.com",
		"totp_uri": "otpauth://totp/AWS:agent-a?secret=" + seed + "&issuer=AWS&algorithm=SHA256&digits=8&period=30",
	})
	data := rec.must(tokA, "GET", "mailgent/agents/agent-a/creds/aws", nil)
	require.Equal(t, password, data["password"])
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA256", "digits": float64(8), "period": float64(30), "issuer": "AWS", "account": "agent-a"}, data["totp"])
	for i := 0; i < 3; i++ {
		data = rec.must(tokA, "GET", "mailgent/agents/agent-a/creds/aws/totp", nil)
		until, err := time.Parse(time.RFC3339, data["valid_until"].(string))
		require.NoError(t, err)
		stepStart := until.Add(-30 * time.Second)
		require.Equal(t, rfc6238.Code(seedBytes, "SHA256", 8, 30, stepStart), data["code"], "code of the step ending %s", until)
		require.InDelta(t, time.Until(until).Seconds(), data["seconds_remaining"], 2)
	}
	rec.must(tokA, "POST", "mailgent/agents/agent-a/creds/aws/login", map[string]interface{}{"outcome": "success", "detail": "console reached"})
	rec.must(tokB, "POST", "mailgent/agents/agent-b/creds/github", map[string]interface{}{"password": "b-secret-pw", "totp_secret": seed})

	// Isolation: 403 on agent B's paths and on administration.
	forbidden := []struct{ method, path string }{
		{"GET", "mailgent/agents/agent-b/creds/github"},
		{"GET", "mailgent/agents/agent-b/creds/github/totp"},
		{"POST", "mailgent/agents/agent-b/creds/github"},
		{"LIST", "mailgent/agents/agent-b/creds"},
		{"GET", "mailgent/agents/agent-b/audit"},
		{"GET", "mailgent/agents/agent-b"},
		{"LIST", "mailgent/agents"},
		{"DELETE", "mailgent/agents/agent-a"},
		{"POST", "mailgent/agents/agent-c"},
		{"GET", "mailgent/agents/agent-a/policy"},
		{"POST", "mailgent/orgs/evil"},
		{"DELETE", "mailgent/orgs/acme"},
		{"GET", "mailgent/config"},
		{"POST", "mailgent/config"},
		{"PUT", "sys/policies/acl/" + a.agentsPolicy},
		{"POST", "auth/approle/role/" + resA.Role + "/secret-id"},
	}
	for _, f := range forbidden {
		body := map[string]interface{}{}
		if f.method == "POST" || f.method == "PUT" {
			body["password"] = "x"
		}
		status, _ := rec.call(tokA, f.method, f.path, body)
		require.Equal(t, http.StatusForbidden, status, "agent A: %s %s", f.method, f.path)
	}
	// …and its own paths work, including its audit trail.
	data = rec.must(tokA, "GET", "mailgent/agents/agent-a/audit", nil)
	events := data["events"].([]interface{})
	first := events[0].(map[string]interface{})
	require.Equal(t, "login.report", first["operation"])
	require.Equal(t, []interface{}{"human:token-alice", "org:acme", "agent:agent-a"}, first["delegation_chain"])
	require.Equal(t, "approle", first["display_name"])
	require.NotEmpty(t, first["entity_id"], "an AppRole login has an entity")
	require.NotEmpty(t, first["request_id"])
	require.Equal(t, "127.0.0.1", strings.Split(first["remote_addr"].(string), ":")[0])

	// The plugin's event carries Vault's request ID: it is in Vault's audit log too.
	requireEventually(t, func() bool { return strings.Contains(readFile(t, v.AuditLog), first["request_id"].(string)) })

	// Tampering, through Vault's raw storage endpoint (enabled in dev mode):
	// an entry copied under another credential or version fails to open.
	mounts, err := v.Client.Sys().ListMounts()
	require.NoError(t, err)
	raw := "sys/raw/logical/" + mounts["mailgent/"].UUID + "/"
	rec.must(tokB, "POST", "mailgent/agents/agent-b/creds/github", map[string]interface{}{"password": "b-secret-pw2"})
	v1 := rec.must(root, "GET", raw+"credver/agent-b/github/1", nil)["value"]
	rec.must(root, "PUT", raw+"credver/agent-b/github/2", map[string]interface{}{"value": v1})
	status, body := rec.call(tokB, "GET", "mailgent/agents/agent-b/creds/github", nil)
	require.Equal(t, http.StatusInternalServerError, status)
	require.Contains(t, fmt.Sprint(body["errors"]), "does not decrypt")
	a1 := rec.must(root, "GET", raw+"credver/agent-a/aws/1", nil)["value"]
	rec.must(root, "PUT", raw+"credver/agent-b/github/1", map[string]interface{}{"value": a1})
	status, body = rec.call(tokB, "GET", "mailgent/agents/agent-b/creds/github?version=1", nil)
	require.Equal(t, http.StatusInternalServerError, status)
	require.Contains(t, fmt.Sprint(body["errors"]), "does not decrypt")

	// Revocation: A's token is still valid, but its credentials are gone at once.
	rec.must(root, "DELETE", "mailgent/agents/agent-a", nil)
	status, body = rec.call(tokA, "GET", "mailgent/agents/agent-a/creds/aws", nil)
	require.Equal(t, http.StatusGone, status)
	require.Contains(t, fmt.Sprint(body["errors"]), "revoked")
	status, _ = rec.call(tokA, "GET", "mailgent/agents/agent-a/creds/aws/totp", nil)
	require.Equal(t, http.StatusGone, status)
	// An org delete revokes the rest.
	data = rec.must(root, "DELETE", "mailgent/orgs/acme", nil)
	require.Equal(t, []interface{}{"agent-b"}, data["revoked_agents"])
	status, _ = rec.call(tokB, "GET", "mailgent/agents/agent-b/creds/github/totp", nil)
	require.Equal(t, http.StatusGone, status)
	data = rec.must(root, "GET", "mailgent/agents/agent-b", nil)
	require.Equal(t, "revoked", data["status"])

	// Bad input over HTTP: 400 naming the field.
	rec.must(root, "POST", "mailgent/orgs/beta", map[string]interface{}{})
	rec.must(root, "POST", "mailgent/agents/agent-c", map[string]interface{}{"org": "beta"})
	for _, tc := range []struct {
		path  string
		body  map[string]interface{}
		field string
	}{
		{"mailgent/agents/agent-c/creds/x", map[string]interface{}{"totp_secret": "!!!"}, "totp_secret"},
		{"mailgent/agents/agent-c/creds/x", map[string]interface{}{"totp_secret": seed, "totp_digits": 7}, "totp_digits"},
		{"mailgent/agents/agent-c/creds/x", map[string]interface{}{"fields": map[string]interface{}{"k": strings.Repeat("x", 1<<20)}}, "fields.k"},
		{"mailgent/agents/Agent-C", map[string]interface{}{"org": "beta"}, "agent"},
		{"mailgent/agents/agent-c/creds/x", map[string]interface{}{"passwd": "x"}, "passwd"},
	} {
		status, body := rec.call(root, "POST", tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, status, "%s %v", tc.path, body)
		require.Contains(t, fmt.Sprint(body["errors"]), tc.field)
	}

	// The seed is nowhere: not in any response or error, not in Vault's or
	// the plugin's log, not in Vault's audit log, not in any plugin event.
	// The password appears only in credential read responses.
	for _, name := range []string{"agent-a", "agent-b", "agent-c"} {
		rec.must(root, "GET", "mailgent/agents/"+name+"/audit?limit=1000", nil)
	}
	seedForms := []string{seed, strings.TrimRight(seed, "="), strings.ToLower(strings.TrimRight(seed, "=")), string(seedBytes)}
	for _, r := range rec.seen {
		if strings.HasPrefix(r.path, "sys/raw/") {
			continue // the test's own raw reads of ciphertext
		}
		for _, s := range seedForms {
			require.NotContains(t, r.body, s, "seed in %s %s", r.method, r.path)
		}
		isCredRead := r.method == "GET" && strings.Count(r.path, "/") == 4 && strings.Contains(r.path, "/creds/")
		if !isCredRead {
			require.NotContains(t, r.body, password, "password in %s %s", r.method, r.path)
		}
	}
	logs := map[string]string{"vault and plugin log": v.Log(), "vault audit log": readFile(t, v.AuditLog)}
	for name, text := range logs {
		for _, s := range append(seedForms, password, "b-secret-pw") {
			require.NotContains(t, text, s, "%s holds a secret", name)
		}
	}
	// Vault's audit log shows who and what in clear (audit_non_hmac_response_keys).
	require.Contains(t, logs["vault audit log"], `"delegation_chain":["human:token-alice","org:acme","agent:agent-a"]`)
	require.Contains(t, logs["vault audit log"], `"agent":"agent-a"`)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func requireEventually(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 50*time.Millisecond)
}
