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
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	n := harness.StartNATS(t)
	nc, err := Connect(n.Options("test"))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := InboundStreamConfig()
	cfg.MaxMsgsPerSubject = 2
	_, err = js.CreateOrUpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, _, err = EnsureInbound(ctx, js)
	require.NoError(t, err)
	_, _, err = EnsureOutbound(ctx, js)
	require.NoError(t, err)
	// The plugin's user made the streams; a relay's user publishes, as
	// deploy/nats/mailgent-users.conf lets it.
	rc, err := Connect(n.RelayOptions("relay"))
	require.NoError(t, err)
	defer rc.Close()
	rjs, err := jetstream.New(rc)
	require.NoError(t, err)
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

// What the relays' NATS user (deploy/nats/mailgent-users.conf) may not do,
// against a real nats-server: everything but publishing mail, reading the
// directory and delivering outbound mail is refused.
func TestRelayUserCannotWriteTheDirectoryOrTouchStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	n := harness.StartNATS(t)
	pc, err := Connect(n.Options("plugin"))
	require.NoError(t, err)
	defer pc.Close()
	js, err := jetstream.New(pc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, EnsureStreams(ctx, js))
	dir, obs, err := EnsureInbound(ctx, js)
	require.NoError(t, err)
	_, outBlobs, err := EnsureOutbound(ctx, js)
	require.NoError(t, err)
	_, err = outBlobs.PutBytes(ctx, "out-1", []byte("sealed outbound"))
	require.NoError(t, err)
	_, err = dir.Put(ctx, DirectoryPublicKeyKey("d.example"), []byte("the plugin's key"))
	require.NoError(t, err)
	_, err = obs.PutBytes(ctx, "a-blob", []byte("sealed mail"))
	require.NoError(t, err)

	rc, err := Connect(n.RelayOptions("relay"))
	require.NoError(t, err)
	defer rc.Close()
	rjs, err := jetstream.New(rc)
	require.NoError(t, err)
	rb, err := Bind(ctx, rjs)
	require.NoError(t, err, "a relay binds to what the plugin made")
	rdir, robs := rb.Directory, rb.InboundBlobs
	got, err := rb.OutboundBlobs.GetBytes(ctx, "out-1")
	require.NoError(t, err, "it reads large outbound mail")
	require.Equal(t, "sealed outbound", string(got))
	e, err := rdir.Get(ctx, DirectoryPublicKeyKey("d.example"))
	if err == nil { // a KV get is a direct get the relay needs not
		require.Equal(t, "the plugin's key", string(e.Value()))
	}
	w, err := rdir.WatchAll(ctx)
	require.NoError(t, err, "it may watch the directory")
	require.NoError(t, w.Stop())

	denied := func(what string, err error) {
		t.Helper()
		require.Error(t, err, "a relay's user could %s", what)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	c1, cancel := short()
	_, err = rdir.Put(c1, DirectoryPublicKeyKey("d.example"), []byte("an attacker's key"))
	cancel()
	denied("replace the published inbound key", err)
	c2, cancel := short()
	_, err = rdir.Put(c2, DirectoryAgentKey("d.example", "victim"), []byte("active"))
	cancel()
	denied("add an agent to the directory", err)
	c3, cancel := short()
	_, err = rjs.CreateOrUpdateStream(c3, InboundStreamConfig())
	cancel()
	denied("change the inbound stream", err)
	c4, cancel := short()
	err = rjs.DeleteStream(c4, InboundStream)
	cancel()
	denied("delete the inbound stream", err)
	c5, cancel := short()
	_, err = rjs.CreateOrUpdateConsumer(c5, InboundStream, jetstream.ConsumerConfig{Durable: "thief"})
	cancel()
	denied("read inbound mail", err)
	c6, cancel := short()
	_, err = robs.GetBytes(c6, "a-blob")
	cancel()
	denied("read an inbound blob", err)
	c7, cancel := short()
	_, err = robs.List(c7)
	cancel()
	denied("list the inbound blobs", err)
	c8, cancel := short()
	_, err = rb.OutboundBlobs.PutBytes(c8, "out-1", []byte("forged outbound"))
	cancel()
	denied("write an outbound blob", err)
	c9, cancel := short()
	_, err = rjs.Publish(c9, OutboundSubject("d.example"), []byte("forged outbound"))
	cancel()
	denied("queue outbound mail", err)
	got, err = obs.GetBytes(ctx, "a-blob")
	require.NoError(t, err)
	require.Equal(t, "sealed mail", string(got))

	e, err = dir.Get(ctx, DirectoryPublicKeyKey("d.example"))
	require.NoError(t, err)
	require.Equal(t, "the plugin's key", string(e.Value()), "the directory is as the plugin wrote it")
	_, err = js.Stream(ctx, InboundStream)
	require.NoError(t, err)
}
