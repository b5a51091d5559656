package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The plugin creates every stream, bucket and consumer (Ensure…, the
// consumer configs); a relay only binds to them (Bind), so either may start
// first and a relay's NATS user needs no right to change them.
const (
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id, so a
	// relay that retries a publish after a lost PubAck stores the mail once.
	DuplicateWindow = 2 * time.Hour

	// MaxPendingPerAgent is how much accepted mail for one agent the inbound
	// stream holds before the plugin stored it; past it relays answer 452
	// (try later) instead of the stream dropping or growing without bound.
	MaxPendingPerAgent = 2000
	// InboundMaxBytes bounds the inbound stream, BlobMaxBytes each store of
	// large payloads; full, they refuse new mail with a temporary reply.
	InboundMaxBytes = 1 << 30
	BlobMaxBytes    = 4 << 30

	// InlineLimit is the largest payload sent inside a stream message
	// (NATS's default max_payload is 1 MiB; headroom for headers); a larger
	// one goes to a blob store, which chunks it.
	InlineLimit = 512 << 10

	// MaxDeliveryAttempts bounds delivery attempts of one outbound message:
	// with the relay's backoff (capped at 5 minutes) about a day, as MTAs
	// retry.
	MaxDeliveryAttempts = 300

	// blobTTL removes blobs a crashed plugin never deleted.
	blobTTL = 14 * 24 * time.Hour
)

// workQueue is a file-backed work-queue stream of the subjects under
// prefix: a message leaves it once its consumer acked it.
func workQueue(name, description, prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    []string{prefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	}
}

// InboundStreamConfig is the stream relays publish accepted mail to. It is
// a work queue: a message leaves the stream once the plugin acked it, which
// it does only after the mail is in Vault storage.
func InboundStreamConfig() jetstream.StreamConfig {
	c := workQueue(InboundStream, "Mail accepted by mailgent-relay, encrypted to the plugin, until the plugin stored it", InboundSubjectPrefix)
	c.Duplicates = DuplicateWindow
	// Full means refuse new mail (the relay answers 4xx and the sender
	// retries), never drop accepted mail.
	c.Discard = jetstream.DiscardNew
	c.DiscardNewPerSubject = true
	c.MaxMsgsPerSubject = MaxPendingPerAgent
	c.MaxBytes = InboundMaxBytes
	return c
}

func outboundStreamConfig() jetstream.StreamConfig {
	c := workQueue(OutboundStream, "Signed mail the Mailgent plugin queued, until a relay delivered it", OutboundSubjectPrefix)
	c.Duplicates = DuplicateWindow
	// A queued message may be large: attachments up to the send limit.
	c.MaxMsgSize = -1
	return c
}

func statusStreamConfig() jetstream.StreamConfig {
	return workQueue(StatusStream, "Delivery results of Mailgent outbound mail, for the plugin", StatusSubjectPrefix)
}

// keyValueConfig is a file-backed KV bucket keeping each key's latest
// value (ttl 0: for ever).
func keyValueConfig(bucket, description string, ttl time.Duration) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: bucket, Description: description, History: 1, TTL: ttl, Storage: jetstream.FileStorage}
}

// blobStoreConfig is a store of payloads too large for a stream message.
func blobStoreConfig(bucket, description string) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      bucket,
		Description: description,
		TTL:         blobTTL,
		Storage:     jetstream.FileStorage,
		MaxBytes:    BlobMaxBytes,
	}
}

// EnsureInboundStream creates or updates the inbound stream.
func EnsureInboundStream(ctx context.Context, js jetstream.JetStream) error {
	return ensureStream(ctx, js, InboundStreamConfig())
}

// EnsureStreams is EnsureInboundStream: it creates the inbound stream only
// (the outbound streams come with EnsureOutbound).
//
// Deprecated: kept for callers of the old name; use EnsureInboundStream.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	return EnsureInboundStream(ctx, js)
}

// EnsureInbound creates the address directory bucket and the inbound blob
// store.
func EnsureInbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	return ensureBuckets(ctx, js,
		keyValueConfig(DirectoryBucket, "Mailgent address directory: live agents and inbound public keys, written by the plugin", 0),
		blobStoreConfig(InboundBlobBucket, "Mailgent inbound payloads too large for one message, sealed to the plugin"))
}

// EnsureOutbound creates the outbound and status streams, the delivery
// bucket and the outbound blob store.
func EnsureOutbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	for _, cfg := range []jetstream.StreamConfig{outboundStreamConfig(), statusStreamConfig()} {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return nil, nil, err
		}
	}
	return ensureBuckets(ctx, js,
		keyValueConfig(DeliveryBucket, "Outbound messages a Mailgent relay delivered (never send twice)", 7*24*time.Hour),
		blobStoreConfig(OutboundBlobBucket, "Mailgent outbound messages too large for one stream message, sealed to the relays"))
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return nil
}

// ensureBuckets creates or updates one KV bucket and one object store.
func ensureBuckets(ctx context.Context, js jetstream.JetStream, kvCfg jetstream.KeyValueConfig, obsCfg jetstream.ObjectStoreConfig) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, kvCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("ensure KV %s: %w", kvCfg.Bucket, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, obsCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("ensure object store %s: %w", obsCfg.Bucket, err)
	}
	return kv, obs, nil
}

// explicitAck is a durable pull consumer of filter whose messages are
// acked one by one after the work is done.
func explicitAck(durable, description, filter string, ackWait time.Duration, maxDeliver int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   description,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
	}
}

// InboundConsumerConfig is the plugin's durable pull consumer: explicit
// acks after the Vault write; a transient failure is NAKed with a delay by
// the plugin; a message still failing after MaxDeliver attempts stays in
// the stream (work-queue retention) for an operator to look at — it is
// never dropped silently. No BackOff: it would shorten AckWait below the
// time a large message may take to store.
func InboundConsumerConfig(domain string) jetstream.ConsumerConfig {
	c := explicitAck(InboundConsumerName(domain), "Mailgent plugin for @"+domain, InboundFilter(domain), 60*time.Second, 50)
	c.MaxAckPending = 256
	return c
}

// RelayConsumerConfig is the relays' shared durable consumer of outbound
// mail. Redelivery is driven by the relay (NakWithDelay with backoff);
// MaxDeliver bounds the attempts, after which the relay reports failed.
func RelayConsumerConfig(domain string) jetstream.ConsumerConfig {
	c := explicitAck(RelayConsumerName(domain), "Mailgent relays delivering @"+domain+" mail", OutboundSubject(domain), 2*time.Minute, MaxDeliveryAttempts)
	c.MaxAckPending = 64
	return c
}

// StatusConsumerConfig is the plugin's durable consumer of results.
func StatusConsumerConfig(domain string) jetstream.ConsumerConfig {
	return explicitAck(StatusConsumerName(domain), "Mailgent plugin: delivery results for @"+domain, StatusSubject(domain), 30*time.Second, -1)
}

// Relay is what a relay uses of the bus, bound by Bind.
type Relay struct {
	// Directory is the address directory (read only).
	Directory jetstream.KeyValue
	// InboundBlobs takes the payloads of large inbound mail.
	InboundBlobs jetstream.ObjectStore
	// Delivered records delivered outbound mail; OutboundBlobs holds
	// large outbound mail (read only).
	Delivered     jetstream.KeyValue
	OutboundBlobs jetstream.ObjectStore
}

// Bind returns the handles a relay uses, without creating or changing
// anything: the plugin owns every stream, bucket and consumer. It fails
// (ErrStreamNotFound, ErrBucketNotFound) until the plugin made them.
func Bind(ctx context.Context, js jetstream.JetStream) (*Relay, error) {
	r := &Relay{}
	var err error
	if _, err = js.Stream(ctx, InboundStream); err != nil {
		return nil, fmt.Errorf("stream %s: %w", InboundStream, err)
	}
	if r.Directory, err = js.KeyValue(ctx, DirectoryBucket); err != nil {
		return nil, fmt.Errorf("KV %s: %w", DirectoryBucket, err)
	}
	if r.InboundBlobs, err = js.ObjectStore(ctx, InboundBlobBucket); err != nil {
		return nil, fmt.Errorf("object store %s: %w", InboundBlobBucket, err)
	}
	if r.Delivered, err = js.KeyValue(ctx, DeliveryBucket); err != nil {
		return nil, fmt.Errorf("KV %s: %w", DeliveryBucket, err)
	}
	if r.OutboundBlobs, err = js.ObjectStore(ctx, OutboundBlobBucket); err != nil {
		return nil, fmt.Errorf("object store %s: %w", OutboundBlobBucket, err)
	}
	return r, nil
}

// attachPayload puts data in msg, or, over InlineLimit, in obs under blob
// with msg naming it (HeaderBlob). It returns once the blob store has
// every chunk.
func attachPayload(ctx context.Context, obs jetstream.ObjectStore, msg *nats.Msg, blob string, data []byte) error {
	if len(data) <= InlineLimit {
		msg.Data = data
		return nil
	}
	if _, err := obs.PutBytes(ctx, blob, data); err != nil {
		return err
	}
	msg.Header.Set(HeaderBlob, blob)
	return nil
}
