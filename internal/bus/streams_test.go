package bus_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	. "github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

// warnings collects what Setup reports.
type warnings struct {
	mu  sync.Mutex
	all []string
}

func (w *warnings) warn(msg string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, fmt.Sprint(append([]any{msg}, args...)...))
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.all
	w.all = nil
	return out
}

func pluginJetStream(t *testing.T, n *harness.NATS) jetstream.JetStream {
	t.Helper()
	nc, err := Connect(n.Options("plugin"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

func ensureAll(t *testing.T, ctx context.Context, o Setup, js jetstream.JetStream) {
	t.Helper()
	require.NoError(t, o.EnsureInboundStream(ctx, js))
	_, _, err := o.EnsureInbound(ctx, js)
	require.NoError(t, err)
	_, _, err = o.EnsureOutbound(ctx, js)
	require.NoError(t, err)
	require.NoError(t, o.EnsureWebhooks(ctx, js))
}

// The plugin's setup creates what is missing, then leaves it alone when
// nothing changed; puts back what it owns; and keeps what an operator made
// bigger.
func TestSetupReconcilesWithoutShrinking(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	n := harness.StartNATS(t)
	js := pluginJetStream(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &warnings{}
	o := Setup{Replicas: 1, Warn: w.warn}
	ensureAll(t, ctx, o, js)
	ensureAll(t, ctx, o, js)
	require.Empty(t, w.take(), "a second setup with nothing changed changes nothing")

	st, err := js.Stream(ctx, InboundStream)
	require.NoError(t, err)
	c := st.CachedInfo().Config
	c.MaxBytes, c.MaxMsgsPerSubject = 8<<30, 5000 // an operator's bigger limits
	c.Duplicates = time.Minute                    // and a change to what Mailgent owns
	_, err = js.UpdateStream(ctx, c)
	require.NoError(t, err)
	ensureAll(t, ctx, o, js)
	st, err = js.Stream(ctx, InboundStream)
	require.NoError(t, err)
	got := st.CachedInfo().Config
	require.Equal(t, int64(8<<30), got.MaxBytes, "kept the operator's larger size")
	require.Equal(t, int64(5000), got.MaxMsgsPerSubject)
	require.Equal(t, DuplicateWindow, got.Duplicates, "put back what Mailgent owns")
	require.NotEmpty(t, w.take(), "the drift was reported")
}

// On a NATS cluster, nats_replicas=3 makes every stream, bucket and object
// store R3; and an operator's R3 stream is never shrunk by a plugin set to
// one replica.
func TestSetupReplicasOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-servers")
	}
	c := harness.StartNATSCluster(t, 3)
	js := pluginJetStream(t, c.NATS)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// An operator made the inbound stream R3 before the plugin came.
	op := InboundStreamConfig()
	op.Replicas = 3
	_, err := js.CreateStream(ctx, op)
	require.NoError(t, err)
	w := &warnings{}
	ensureAll(t, ctx, Setup{Replicas: 1, Warn: w.warn}, js)
	st, err := js.Stream(ctx, InboundStream)
	require.NoError(t, err)
	require.Equal(t, 3, st.CachedInfo().Config.Replicas, "an operator's R3 stream is never shrunk")
	require.True(t, strings.Contains(strings.Join(w.take(), "\n"), "more replicas than nats_replicas"))

	ensureAll(t, ctx, Setup{Replicas: 3, Warn: w.warn}, js)
	for _, name := range []string{InboundStream, OutboundStream, StatusStream, "KV_" + DirectoryBucket, "KV_" + DeliveryBucket,
		"OBJ_" + InboundBlobBucket, "OBJ_" + OutboundBlobBucket, WebhookStream, WebhookStatusStream} {
		st, err := js.Stream(ctx, name)
		require.NoError(t, err, name)
		require.Equal(t, 3, st.CachedInfo().Config.Replicas, name)
	}
}
