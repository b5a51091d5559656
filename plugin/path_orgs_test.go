package plugin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

func TestOrgDeleteRevokesItsAgents(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "a1", "a2")
	tb.ok(t, logical.CreateOperation, "orgs/beta", nil)
	tb.ok(t, logical.CreateOperation, "agents/b1", map[string]interface{}{"org": "beta"})
	tb.ok(t, logical.CreateOperation, "agents/a1/creds/x", map[string]interface{}{"password": "p"})

	resp := tb.ok(t, logical.DeleteOperation, "orgs/acme", nil)
	require.ElementsMatch(t, []string{"a1", "a2"}, resp.Data["revoked_agents"])
	_, err := tb.do(logical.ReadOperation, "agents/a1/creds/x", nil)
	requireCoded(t, err, http.StatusGone)
	resp = tb.ok(t, logical.ReadOperation, "agents/b1", nil)
	require.Equal(t, statusActive, resp.Data["status"])
	require.Nil(t, tb.request(t, logical.ReadOperation, "orgs/acme", nil))

	resp = tb.ok(t, logical.ReadOperation, "orgs/acme/audit", nil)
	events := resp.Data["events"].([]map[string]interface{})
	require.Equal(t, opOrgDelete, events[0]["operation"])
	require.Contains(t, events[0]["detail"], "a1")
}

// An org is created with its creator on record, updated field by field,
// listed, and its changes are its audit trail.
func TestOrgWriteReadListAudit(t *testing.T) {
	tb := newTestBackend(t)
	tb.ok(t, logical.CreateOperation, "orgs/acme", map[string]interface{}{"description": "Acme Corp", "metadata": map[string]interface{}{"tier": "gold"}})
	tb.ok(t, logical.UpdateOperation, "orgs/acme", map[string]interface{}{"description": "Acme Corporation"})
	tb.ok(t, logical.CreateOperation, "orgs/beta", nil)

	resp := tb.ok(t, logical.ReadOperation, "orgs/acme", nil)
	require.Equal(t, "acme", resp.Data["name"])
	require.Equal(t, "Acme Corporation", resp.Data["description"])
	require.Equal(t, map[string]string{"tier": "gold"}, resp.Data["metadata"], "an update keeps what it does not name")
	require.Equal(t, "token-alice", resp.Data["created_by"].(actor).DisplayName)
	require.Equal(t, []string{}, resp.Data["agents"])
	require.Equal(t, []string{"acme", "beta"}, tb.ok(t, logical.ListOperation, "orgs/", nil).Data["keys"])

	var ops []string
	for _, e := range tb.ok(t, logical.ReadOperation, "orgs/acme/audit", nil).Data["events"].([]map[string]interface{}) {
		ops = append(ops, e["operation"].(string))
		require.Equal(t, "acme", e["org"])
		require.Equal(t, "req-test", e["request_id"])
	}
	require.Equal(t, []string{opOrgUpdate, opOrgCreate}, ops)

	require.Nil(t, tb.request(t, logical.ReadOperation, "orgs/nope", nil), "no org: an empty read")
	require.Nil(t, tb.request(t, logical.DeleteOperation, "orgs/nope", nil), "deleting none: nothing to do")
	before := snapshot(t, tb.storage)
	for _, bad := range []struct {
		path  string
		data  map[string]interface{}
		field string
	}{
		{"orgs/acme", map[string]interface{}{"description": strings.Repeat("x", maxDescription+1)}, "description"},
		{"orgs/acme", map[string]interface{}{"metadata": map[string]interface{}{"": "x"}}, "metadata"},
		{"orgs/Acme", map[string]interface{}{}, "org"},
	} {
		resp, err := tb.do(logical.UpdateOperation, bad.path, bad.data)
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
		require.True(t, strings.HasPrefix(resp.Error().Error(), bad.field), resp.Error().Error())
	}
	require.Equal(t, before, snapshot(t, tb.storage), "refused writes change nothing")
}
