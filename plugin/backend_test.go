package plugin

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"
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
	lb, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	b := lb.(*backend)
	t.Cleanup(func() { b.Cleanup(context.Background()) })
	return &testBackend{backend: b, storage: conf.StorageView}
}

// request sends one request and fails the test on an internal error.
func (tb *testBackend) request(t *testing.T, op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp, err := tb.HandleRequest(context.Background(), &logical.Request{
		Operation: op,
		Path:      path,
		Data:      data,
		Storage:   tb.storage,
	})
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
