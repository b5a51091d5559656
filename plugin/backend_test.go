package plugin

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"
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
