package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	. "github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

// A full stream refuses new mail with an error the relay turns into a
// temporary reply; nothing accepted is dropped to make room. Run against a
// real nats-server with the inbound stream's own settings, scaled down.
func TestPublishToAFullStreamIsRefusedNotDropped(t *testing.T) {
	n := startNATS(t)
	js := jetStreamOf(t, n.Options("test"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := InboundStreamConfig()
	cfg.MaxMsgsPerSubject = 2
	_, err := js.CreateOrUpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, _, err = EnsureInbound(ctx, js)
	require.NoError(t, err)
	_, _, err = EnsureOutbound(ctx, js)
	require.NoError(t, err)
	// The plugin's user made the streams; a relay's user publishes, as
	// deploy/nats/mailgent-users.conf lets it.
	rjs := jetStreamOf(t, n.RelayOptions("relay"))
	rb, err := Bind(ctx, rjs)
	require.NoError(t, err)
	obs := rb.InboundBlobs
	for i, id := range []string{"m1", "m2"} {
		dup, err := Publish(ctx, rjs, obs, "d.example", "bot", id, []byte{byte(i)})
		require.NoError(t, err)
		require.False(t, dup)
	}
	_, err = Publish(ctx, rjs, obs, "d.example", "bot", "m3", []byte{3})
	require.ErrorIs(t, err, ErrAgentBacklog)
	_, err = Publish(ctx, rjs, obs, "d.example", "other", "m4", []byte{4})
	require.NoError(t, err, "another agent's mail still goes in")
	// A large payload for a full backlog is refused before its blob is
	// stored: a relay cannot delete blobs.
	_, err = Publish(ctx, rjs, obs, "d.example", "bot", "m5", make([]byte, InlineLimit+1))
	require.ErrorIs(t, err, ErrAgentBacklog)
	_, err = obs.GetInfo(ctx, "m5")
	require.True(t, errors.Is(err, jetstream.ErrObjectNotFound), "blob left: %v", err)

	info, err := js.Stream(ctx, InboundStream)
	require.NoError(t, err)
	require.Equal(t, uint64(3), info.CachedInfo().State.Msgs, "the first two and the other agent's, none dropped")

	// The whole stream's byte limit.
	cfg.MaxMsgsPerSubject, cfg.MaxBytes = 100, 4096
	_, err = js.CreateOrUpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, err = Publish(ctx, rjs, obs, "d.example", "third", "m6", make([]byte, 8192))
	require.ErrorIs(t, err, ErrBusFull)
}

// startNATS runs a real nats-server with the plugin's and the relays'
// users, unless tests are short.
func startNATS(t *testing.T) *harness.NATS {
	t.Helper()
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	return harness.StartNATS(t)
}

// jetStreamOf connects to NATS with o, until the test ends.
func jetStreamOf(t *testing.T, o Options) jetstream.JetStream {
	t.Helper()
	nc, err := Connect(o)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}
