package plugin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// testBackend is a mounted backend over in-memory storage, for unit tests.
type testBackend struct {
	*backend
	storage logical.Storage
}

func newTestBackend(t *testing.T) *testBackend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: hclog.DefaultOutput})
	conf.StorageView = &logical.InmemStorage{}
	conf.BackendUUID = "6f1c2b9e-0000-4000-8000-000000000001"
	lb, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	b := lb.(*backend)
	t.Cleanup(func() { b.Cleanup(context.Background()) })
	return &testBackend{backend: b, storage: conf.StorageView}
}

// setup writes a config, an org "acme" and the given agents in it.
func (tb *testBackend) setup(t *testing.T, agents ...string) {
	t.Helper()
	tb.ok(t, logical.CreateOperation, "config", map[string]interface{}{"domain": "agents.example.com"})
	tb.ok(t, logical.CreateOperation, "orgs/acme", map[string]interface{}{"description": "Acme Corp"})
	for _, a := range agents {
		tb.ok(t, logical.CreateOperation, "agents/"+a, map[string]interface{}{"org": "acme"})
	}
}

// ok sends a request that must succeed.
func (tb *testBackend) ok(t *testing.T, op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp := tb.request(t, op, path, data)
	if resp != nil && resp.IsError() {
		t.Fatalf("%s %s: %v", op, path, resp.Error())
	}
	return resp
}

// do sends a request as a given token display name and returns both results.
func (tb *testBackend) do(op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	return tb.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: tb.storage,
		ID: "req-test", DisplayName: "token-alice", MountPoint: "mailgent/", MountAccessor: testMountAccessor,
		Connection: &logical.Connection{RemoteAddr: "192.0.2.10"},
	})
}

// request sends one request and fails the test on an internal error.
func (tb *testBackend) request(t *testing.T, op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp, err := tb.do(op, path, data)
	require.NoError(t, err, "internal error from %s %s", op, path)
	return resp
}

func TestFactoryDoesNoIO(t *testing.T) {
	// Storage that fails every call proves Factory never touches it.
	conf := logical.TestBackendConfig()
	conf.StorageView = failingStorage{}
	_, err := Factory(context.Background(), conf)
	require.NoError(t, err)
}

type failingStorage struct{}

func (failingStorage) List(context.Context, string) ([]string, error) {
	panic("storage used in Factory")
}
func (failingStorage) Get(context.Context, string) (*logical.StorageEntry, error) {
	panic("storage used in Factory")
}
func (failingStorage) Put(context.Context, *logical.StorageEntry) error {
	panic("storage used in Factory")
}
func (failingStorage) Delete(context.Context, string) error { panic("storage used in Factory") }

type countingSystemView struct {
	logical.StaticSystemView
	calls int
}

func (c *countingSystemView) ReplicationState() consts.ReplicationState {
	c.calls++
	return c.StaticSystemView.ReplicationState()
}

// The framework asks for the replication state on every request; the
// mount's system view answers from memory for a second.
func TestReplicationStateIsCached(t *testing.T) {
	sys := &countingSystemView{StaticSystemView: logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceStandby}}
	conf := logical.TestBackendConfig()
	conf.System = sys
	conf.StorageView = &logical.InmemStorage{}
	b, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	for range 50 {
		// A read of config: routed through framework.HandleRequest.
		_, _ = b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "config", Storage: conf.StorageView})
	}
	require.Equal(t, 1, sys.calls)
	require.True(t, b.(*backend).System().ReplicationState().HasState(consts.ReplicationPerformanceStandby), "the cached answer is Vault's")
}

// vaultStatus is the HTTP status and error text Vault's HTTP layer answers
// a handler's result with (as http/handler.go does: RespondErrorCommon,
// then AdjustErrorStatusCode), so a test asserts the status a client sees
// whether the handler answered a 400 response or a coded error.
func vaultStatus(op logical.Operation, resp *logical.Response, err error) (int, string) {
	status, err := logical.RespondErrorCommon(&logical.Request{Operation: op}, resp, err)
	if err == nil {
		if status == 0 {
			status = http.StatusOK
		}
		return status, ""
	}
	logical.AdjustErrorStatusCode(&status, err)
	return status, err.Error()
}

// The OpenAPI document Vault serves for the mount (sys/internal/specs/
// openapi merges each backend's, made by the framework from the paths'
// DisplayAttrs): every operation has an ID of its own, mailgent-<verb>-<what>.
func TestOpenAPIOperationIDsAreDistinct(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.System = logical.StaticSystemView{PluginEnvironment: &logical.PluginEnvironment{VaultVersion: "1.21.0"}}
	b, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	resp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: "", Storage: conf.StorageView})
	require.NoError(t, err)
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	require.True(t, ok, "no OpenAPI document in the root help: %T", resp.Data["openapi"])

	ids := map[string]string{} // operation ID → method and path
	for path, item := range doc.Paths {
		for method, op := range map[string]*framework.OASOperation{"GET": item.Get, "POST": item.Post, "DELETE": item.Delete, "PATCH": item.Patch} {
			if op == nil {
				continue
			}
			where := method + " " + path
			require.NotEmpty(t, op.OperationID, where)
			require.True(t, strings.HasPrefix(op.OperationID, "mailgent-"), "%s: %s", where, op.OperationID)
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("operation ID %s names both %s and %s", op.OperationID, other, where)
			}
			ids[op.OperationID] = where
		}
	}
	want := map[string]string{
		"mailgent-read-configuration":          "GET /config",
		"mailgent-write-configuration":         "POST /config",
		"mailgent-read-dkim-records":           "GET /config/dkim",
		"mailgent-read-health":                 "GET /health",
		"mailgent-read-metrics":                "GET /metrics",
		"mailgent-rotate-dkim-keys":            "POST /config/dkim/rotate",
		"mailgent-list-relays":                 "GET /config/relays/",
		"mailgent-read-relay":                  "GET /config/relays/{name}",
		"mailgent-register-relay":              "POST /config/relays/{name}",
		"mailgent-deregister-relay":            "DELETE /config/relays/{name}",
		"mailgent-list-orgs":                   "GET /orgs/",
		"mailgent-read-org":                    "GET /orgs/{org}",
		"mailgent-write-org":                   "POST /orgs/{org}",
		"mailgent-delete-org":                  "DELETE /orgs/{org}",
		"mailgent-read-org-audit-events":       "GET /orgs/{org}/audit",
		"mailgent-list-org-audit-events":       "GET /orgs/{org}/audit/",
		"mailgent-list-agents":                 "GET /agents/",
		"mailgent-read-agent":                  "GET /agents/{agent}",
		"mailgent-write-agent":                 "POST /agents/{agent}",
		"mailgent-revoke-agent":                "DELETE /agents/{agent}",
		"mailgent-read-agent-policy":           "GET /agents/{agent}/policy",
		"mailgent-read-templated-agent-policy": "GET /agent-policy",
		"mailgent-read-admin-policy":           "GET /admin-policy",
		"mailgent-list-credentials":            "GET /agents/{agent}/creds/",
		"mailgent-read-credential":             "GET /agents/{agent}/creds/{cred}",
		"mailgent-write-credential":            "POST /agents/{agent}/creds/{cred}",
		"mailgent-delete-credential":           "DELETE /agents/{agent}/creds/{cred}",
		"mailgent-generate-totp-code":          "GET /agents/{agent}/creds/{cred}/totp",
		"mailgent-report-login":                "POST /agents/{agent}/creds/{cred}/login",
		"mailgent-take-backup-code":            "POST /agents/{agent}/creds/{cred}/backup-code",
		"mailgent-read-agent-audit-events":     "GET /agents/{agent}/audit",
		"mailgent-list-agent-audit-events":     "GET /agents/{agent}/audit/",
		"mailgent-read-messages":               "GET /agents/{agent}/messages",
		"mailgent-list-messages":               "GET /agents/{agent}/messages/",
		"mailgent-wait-for-message":            "GET /agents/{agent}/messages/wait",
		"mailgent-read-message":                "GET /agents/{agent}/messages/{id}",
		"mailgent-delete-message":              "DELETE /agents/{agent}/messages/{id}",
		"mailgent-read-message-raw-source":     "GET /agents/{agent}/messages/{id}/raw",
		"mailgent-read-message-attachment":     "GET /agents/{agent}/messages/{id}/attachments/{index}",
		"mailgent-send-message":                "POST /agents/{agent}/send",
		"mailgent-read-sent-messages":          "GET /agents/{agent}/sent",
		"mailgent-list-sent-messages":          "GET /agents/{agent}/sent/",
		"mailgent-read-sent-message":           "GET /agents/{agent}/sent/{id}",
		"mailgent-read-threads":                "GET /agents/{agent}/threads",
		"mailgent-list-threads":                "GET /agents/{agent}/threads/",
		"mailgent-read-thread":                 "GET /agents/{agent}/threads/{thread}",
	}
	require.Equal(t, want, ids)
}
