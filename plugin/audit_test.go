package plugin

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestEscapeText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "console reached: 200 OK", "console reached: 200 OK"},
		{"accents stay", "Zoë – ok ✓", "Zoë – ok ✓"},
		{"newline forges a line", "ok\n2026-01-01 agent=root op=cred.read", `ok\u000a2026-01-01 agent=root op=cred.read`},
		{"carriage return", "a\rb", `a\u000db`},
		{"escape sequence", "\x1b[2Jcleared", `\u001b[2Jcleared`},
		{"tab", "a\tb", `a\u0009b`},
		{"DEL", "a\x7fb", `a\u007fb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"C1 CSI", "a\u009bb", `a\u009bb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"paragraph separator", "a\u2029b", `a\u2029b`},
		{"right-to-left override", "txt.\u202egpj", `txt.\u202egpj`},
		{"isolates", "\u2066a\u2069", `\u2066a\u2069`},
		{"marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"a typed escape stays distinguishable", `a\u000ab`, `a\\u000ab`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, escapeText(tc.in))
		})
	}
}

// entityBackend is a test backend whose Vault knows one entity.
func entityBackend(t *testing.T, ent *logical.Entity) *testBackend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger()
	conf.StorageView = &logical.InmemStorage{}
	conf.BackendUUID = "6f1c2b9e-0000-4000-8000-000000000002"
	conf.System = logical.StaticSystemView{EntityVal: ent}
	lb, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	b := lb.(*backend)
	t.Cleanup(func() { b.Cleanup(context.Background()) })
	return &testBackend{backend: b, storage: conf.StorageView}
}

// asEntity sends a request as the entity, from addr.
func (tb *testBackend) asEntity(t *testing.T, op logical.Operation, path, addr, display string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp, err := tb.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: tb.storage, ID: "req-entity",
		EntityID: "ent-1", DisplayName: display, MountPoint: "mailgent/", MountAccessor: testMountAccessor,
		Connection: &logical.Connection{RemoteAddr: addr},
	})
	require.NoError(t, err)
	require.False(t, resp != nil && resp.IsError(), "%v", resp)
	return resp
}

func newestEvent(t *testing.T, tb *testBackend, agent string) map[string]interface{} {
	t.Helper()
	resp := tb.ok(t, logical.ReadOperation, "agents/"+agent+"/audit", nil)
	return resp.Data["events"].([]map[string]interface{})[0]
}

// Free text that reaches the audit trail is stored escaped, whoever chose
// it: the agent (detail), Vault's identity (entity and display names), the
// connection (remote address).
func TestAuditFieldsCannotInject(t *testing.T) {
	tb := entityBackend(t, &logical.Entity{Name: "mallory\n2026 agent=root\u202e", Aliases: []*logical.Alias{{MountType: "userpass", Name: "mallory"}}})
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw-123456"})
	tb.asEntity(t, logical.UpdateOperation, "agents/bot/creds/site/login", "192.0.2.1\r\nforged: yes", "userpass-\x1bmallory",
		map[string]interface{}{"outcome": "failure", "detail": "timeout\u2028op=cred.read outcome=success\u0085"})

	ev := newestEvent(t, tb, "bot")
	require.Equal(t, opLoginReport, ev["operation"])
	require.Equal(t, `timeout\u2028op=cred.read outcome=success\u0085`, ev["detail"])
	require.Equal(t, `192.0.2.1\u000d\u000aforged: yes`, ev["remote_addr"])
	require.Equal(t, `mallory\u000a2026 agent=root\u202e`, ev["entity_name"])
	require.Equal(t, `userpass-\u001bmallory`, ev["display_name"])
	for k, v := range ev {
		if s, ok := v.(string); ok {
			require.True(t, utf8.ValidString(s), "field %s", k)
			require.False(t, strings.ContainsFunc(s, unsafeRune), "field %s holds an unescaped control: %q", k, s)
		}
	}
}

// An event says whether the agent acted itself or someone acted on its paths.
func TestAuditRecordsWhoActedOnTheAgent(t *testing.T) {
	agentAlias := func(role, agent string) *logical.Alias {
		return &logical.Alias{MountType: "approle", MountAccessor: "auth_approle_1", Name: "role-id",
			Metadata: map[string]string{"role_name": role, agentMetadataKey: agent}}
	}
	cases := []struct {
		name    string
		entity  *logical.Entity
		byAgent bool
	}{
		{"the agent's own login", &logical.Entity{Name: "entity_1", Aliases: []*logical.Alias{agentAlias(agentRoleName(testMountAccessor, "bot"), "bot")}}, true},
		{"an admin (userpass)", &logical.Entity{Name: "alice", Aliases: []*logical.Alias{{MountType: "userpass", Name: "alice"}}}, false},
		{"another agent's login", &logical.Entity{Name: "entity_2", Aliases: []*logical.Alias{agentAlias(agentRoleName(testMountAccessor, "other"), "other")}}, false},
		{"a secret ID naming bot on another agent's role", &logical.Entity{Name: "entity_3", Aliases: []*logical.Alias{agentAlias(agentRoleName(testMountAccessor, "other"), "bot")}}, false},
		{"bot's role on another mount", &logical.Entity{Name: "entity_4", Aliases: []*logical.Alias{agentAlias(agentRoleName("vault-plugin-mailgent_99999999", "bot"), "bot")}}, false},
		{"not AppRole", &logical.Entity{Name: "entity_5", Aliases: []*logical.Alias{{MountType: "oidc", Name: "x", Metadata: map[string]string{"role_name": agentRoleName(testMountAccessor, "bot"), agentMetadataKey: "bot"}}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := entityBackend(t, tc.entity)
			tb.setup(t, "bot")
			tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw-123456"})
			tb.asEntity(t, logical.ReadOperation, "agents/bot/creds/site", "127.0.0.1", "approle", nil)
			ev := newestEvent(t, tb, "bot")
			require.Equal(t, opCredRead, ev["operation"])
			require.Equal(t, tc.byAgent, ev["requester_is_agent"])
			require.Equal(t, []string{"human:token-alice", "org:acme", "agent:bot"}, ev["delegation_chain"], "the chain is the agent's, whoever acted")
			require.Equal(t, "ent-1", ev["entity_id"])
		})
	}
	// A token without an entity (root) is never the agent.
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw-123456"})
	tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", nil)
	require.Equal(t, false, newestEvent(t, tb, "bot")["requester_is_agent"])
}
