package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	. "github.com/mailgent/mailgent/internal/bus"
)

// What the relays' NATS user (deploy/nats/mailgent-users.conf) may not do,
// against a real nats-server: everything but publishing mail, reading the
// directory and delivering outbound mail is refused.
func TestRelayUserCannotWriteTheDirectoryOrTouchStreams(t *testing.T) {
	n := startNATS(t)
	js := jetStreamOf(t, n.Options("plugin"))
	ctx := context.Background()
	require.NoError(t, EnsureInboundStream(ctx, js))
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

	rjs := jetStreamOf(t, n.RelayOptions("relay"))
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

// What the relays' NATS user may do with webhooks, against a real
// nats-server: pull, settle and report events from the consumer the plugin
// made, and nothing else — no event of its own, no consumer of its own.
func TestRelayUserDeliversWebhookEventsOnly(t *testing.T) {
	n := startNATS(t)
	js := jetStreamOf(t, n.Options("plugin"))
	ctx := context.Background()
	require.NoError(t, Setup{}.EnsureWebhooks(ctx, js))
	_, err := js.CreateOrUpdateConsumer(ctx, WebhookStream, WebhookConsumerConfig("d.example"))
	require.NoError(t, err)
	_, err = js.CreateOrUpdateConsumer(ctx, WebhookStatusStream, WebhookStatusConsumerConfig("d.example"))
	require.NoError(t, err)
	_, err = js.Publish(ctx, WebhookSubject("d.example"), []byte("sealed event"))
	require.NoError(t, err, "the plugin publishes events")

	rjs := jetStreamOf(t, n.RelayOptions("relay"))
	cons, err := rjs.Consumer(ctx, WebhookStream, WebhookConsumerName("d.example"))
	require.NoError(t, err, "a relay binds the consumer the plugin made")
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err, "and pulls from it")
	require.Equal(t, "sealed event", string(msg.Data()))
	require.NoError(t, msg.DoubleAck(ctx), "and settles what it pulled")
	require.NoError(t, PublishWebhookAttempt(ctx, rjs, "d.example", &WebhookAttempt{EventID: "msg_x", Attempt: 1, Outcome: AttemptDelivered}),
		"and reports attempts")

	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	c1, cancel := short()
	_, err = rjs.Publish(c1, WebhookSubject("d.example"), []byte("forged event"))
	cancel()
	require.Error(t, err, "a relay's user could publish a webhook event")
	c2, cancel := short()
	_, err = rjs.CreateOrUpdateConsumer(c2, WebhookStream, jetstream.ConsumerConfig{Durable: "thief"})
	cancel()
	require.Error(t, err, "a relay's user could make a consumer of the events")
	c3, cancel := short()
	_, err = rjs.CreateOrUpdateConsumer(c3, WebhookStatusStream, jetstream.ConsumerConfig{Durable: "thief"})
	cancel()
	require.Error(t, err, "a relay's user could read the attempts")
	c4, cancel := short()
	err = rjs.DeleteStream(c4, WebhookStream)
	cancel()
	require.Error(t, err, "a relay's user could delete the event stream")
}
