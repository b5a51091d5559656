package bus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
	c := workQueue(StatusStream, "Delivery results of Mailgent outbound mail, for the plugin", StatusSubjectPrefix)
	// Each result has its own Nats-Msg-Id: a relay's retried report is kept once.
	c.Duplicates = DuplicateWindow
	return c
}

// Limits of the webhook streams: events wait at most a day for delivery
// (webhook.MaxAge; MaxAge here leaves a day more for relays that were all
// down), attempts until the plugin recorded them.
const (
	WebhookMaxBytes       = 1 << 30
	WebhookMaxAge         = 48 * time.Hour
	WebhookStatusMaxBytes = 256 << 20
	WebhookStatusMaxAge   = 7 * 24 * time.Hour
)

func webhookStreamConfig() jetstream.StreamConfig {
	c := workQueue(WebhookStream, "Mailgent webhook events, signed by the plugin and sealed to the relays, until a relay delivered them", WebhookSubjectPrefix)
	// The event ID is the Nats-Msg-Id: a retried publish is kept once.
	c.Duplicates = DuplicateWindow
	// Full, a new event is refused (the plugin records it as dropped)
	// rather than older ones being lost unseen.
	c.Discard = jetstream.DiscardNew
	c.MaxBytes = WebhookMaxBytes
	c.MaxAge = WebhookMaxAge
	return c
}

func webhookStatusStreamConfig() jetstream.StreamConfig {
	c := workQueue(WebhookStatusStream, "Mailgent webhook delivery attempts, for the plugin", WebhookStatusSubjectPrefix)
	c.Duplicates = DuplicateWindow
	c.MaxBytes = WebhookStatusMaxBytes
	c.MaxAge = WebhookStatusMaxAge
	return c
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

// Setup is how the plugin makes the bus: Replicas for every stream, KV
// bucket and object store (1, or 3 on a NATS cluster), and Warn for what it
// finds an operator changed. It never shrinks what an operator made bigger
// (replicas, size limits) and never touches what it does not own
// (placement, sources, mirrors): it creates what is missing and updates
// only its own fields (reconcile).
type Setup struct {
	Replicas int
	Warn     func(msg string, args ...any)
}

func (o Setup) warn(msg string, args ...any) {
	if o.Warn != nil {
		o.Warn(msg, args...)
	}
}

// EnsureInboundStream creates or reconciles the inbound stream.
func (o Setup) EnsureInboundStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := o.ensureStream(ctx, js, InboundStreamConfig())
	return err
}

// EnsureInboundStream creates or reconciles the inbound stream with one
// replica.
func EnsureInboundStream(ctx context.Context, js jetstream.JetStream) error {
	return Setup{}.EnsureInboundStream(ctx, js)
}

// EnsureStreams is EnsureInboundStream: it creates the inbound stream only
// (the outbound streams come with EnsureOutbound).
//
// Deprecated: kept for callers of the old name; use EnsureInboundStream.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	return EnsureInboundStream(ctx, js)
}

// EnsureInbound creates or reconciles the address directory bucket and the
// inbound blob store.
func (o Setup) EnsureInbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	return o.ensureBuckets(ctx, js,
		keyValueConfig(DirectoryBucket, "Mailgent address directory: live agents and inbound public keys, written by the plugin", 0),
		blobStoreConfig(InboundBlobBucket, "Mailgent inbound payloads too large for one message, sealed to the plugin"))
}

// EnsureInbound is Setup{}.EnsureInbound (one replica).
func EnsureInbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	return Setup{}.EnsureInbound(ctx, js)
}

// EnsureOutbound creates or reconciles the outbound and status streams,
// the delivery bucket and the outbound blob store.
func (o Setup) EnsureOutbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	for _, cfg := range []jetstream.StreamConfig{outboundStreamConfig(), statusStreamConfig()} {
		if _, err := o.ensureStream(ctx, js, cfg); err != nil {
			return nil, nil, err
		}
	}
	return o.ensureBuckets(ctx, js,
		keyValueConfig(DeliveryBucket, "Outbound messages a Mailgent relay delivered (never send twice)", 7*24*time.Hour),
		blobStoreConfig(OutboundBlobBucket, "Mailgent outbound messages too large for one stream message, sealed to the relays"))
}

// EnsureWebhooks creates or reconciles the webhook event and attempt
// streams.
func (o Setup) EnsureWebhooks(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range []jetstream.StreamConfig{webhookStreamConfig(), webhookStatusStreamConfig()} {
		if _, err := o.ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

// EnsureOutbound is Setup{}.EnsureOutbound (one replica).
func EnsureOutbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	return Setup{}.EnsureOutbound(ctx, js)
}

// ensureStream creates want if there is no such stream, else reconciles
// the existing one with it.
func (o Setup) ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	want.Replicas = max(1, o.Replicas)
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if st, err = js.CreateStream(ctx, want); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	have := st.CachedInfo().Config
	merged := o.reconcile(have, want)
	if reflect.DeepEqual(merged, have) {
		return st, nil
	}
	if st, err = js.UpdateStream(ctx, merged); err != nil {
		return nil, fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	return st, nil
}

// reconcile is have with the fields the plugin owns set as want has them —
// except that replicas and size limits an operator raised stay raised, and
// what cannot change (retention, storage) is only reported.
func (o Setup) reconcile(have, want jetstream.StreamConfig) jetstream.StreamConfig {
	m := have
	if have.Retention != want.Retention || have.Storage != want.Storage {
		o.warn("stream's retention or storage differs from Mailgent's and cannot be changed; leaving it", "stream", have.Name,
			"retention", have.Retention.String(), "storage", have.Storage.String())
	}
	m.Description, m.Subjects = want.Description, want.Subjects
	m.Duplicates, m.Discard, m.DiscardNewPerSubject, m.MaxAge = want.Duplicates, want.Discard, want.DiscardNewPerSubject, want.MaxAge
	m.AllowDirect, m.AllowRollup = want.AllowDirect || have.AllowDirect, want.AllowRollup || have.AllowRollup
	m.Replicas = max(have.Replicas, want.Replicas)
	m.MaxBytes = larger(have.MaxBytes, want.MaxBytes)
	m.MaxMsgs = larger(have.MaxMsgs, want.MaxMsgs)
	m.MaxMsgsPerSubject = larger(have.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	m.MaxMsgSize = int32(larger(int64(have.MaxMsgSize), int64(want.MaxMsgSize)))
	if m.DiscardNewPerSubject && m.MaxMsgsPerSubject <= 0 {
		m.DiscardNewPerSubject = false // the server refuses it without a per-subject limit
	}
	if have.Replicas > want.Replicas {
		o.warn("stream has more replicas than nats_replicas; keeping them", "stream", have.Name, "replicas", have.Replicas, "nats_replicas", want.Replicas)
	}
	if !reflect.DeepEqual(m, have) {
		o.warn("stream differs from Mailgent's settings; updating what Mailgent owns", "stream", have.Name)
	}
	return m
}

// larger is the larger of two limits, where 0 or less means no limit.
func larger[T int64 | int](a, b T) T {
	if a <= 0 || b <= 0 {
		return -1
	}
	return max(a, b)
}

// ensureBuckets creates or reconciles one KV bucket and one object store
// (streams KV_<bucket> and OBJ_<bucket> underneath).
func (o Setup) ensureBuckets(ctx context.Context, js jetstream.JetStream, kvCfg jetstream.KeyValueConfig, obsCfg jetstream.ObjectStoreConfig) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	kvCfg.Replicas, obsCfg.Replicas = max(1, o.Replicas), max(1, o.Replicas)
	kv, err := js.KeyValue(ctx, kvCfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, kvCfg)
	} else if err == nil {
		err = o.reconcileBucket(ctx, js, "KV_"+kvCfg.Bucket, kvCfg.Replicas, kvCfg.TTL)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ensure KV %s: %w", kvCfg.Bucket, err)
	}
	obs, err := js.ObjectStore(ctx, obsCfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, obsCfg)
	} else if err == nil {
		err = o.reconcileBucket(ctx, js, "OBJ_"+obsCfg.Bucket, obsCfg.Replicas, obsCfg.TTL)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ensure object store %s: %w", obsCfg.Bucket, err)
	}
	return kv, obs, nil
}

// reconcileBucket raises a bucket's stream to replicas (never lowers it)
// and sets its TTL, leaving everything else as the bucket was made.
func (o Setup) reconcileBucket(ctx context.Context, js jetstream.JetStream, stream string, replicas int, ttl time.Duration) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	have := st.CachedInfo().Config
	m := have
	m.Replicas, m.MaxAge = max(have.Replicas, replicas), ttl
	if have.Replicas > replicas {
		o.warn("bucket has more replicas than nats_replicas; keeping them", "stream", stream, "replicas", have.Replicas, "nats_replicas", replicas)
	}
	if reflect.DeepEqual(m, have) {
		return nil
	}
	_, err = js.UpdateStream(ctx, m)
	return err
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

// InboundAckWait is how long a message the plugin pulled may go without
// an ack or an "in progress" before JetStream offers it again: short, so
// the messages a crashed plugin (or Vault node) had in hand come back
// within seconds — well inside a messages/wait — while a slow store keeps
// its message by reporting progress.
const InboundAckWait = 10 * time.Second

// InboundConsumerConfig is the plugin's durable pull consumer: explicit
// acks after the Vault write; a transient failure is NAKed with a delay by
// the plugin; a message still failing after MaxDeliver attempts stays in
// the stream (work-queue retention) for an operator to look at — it is
// never dropped silently. No BackOff: it would shorten AckWait below the
// time a large message may take to store.
func InboundConsumerConfig(domain string) jetstream.ConsumerConfig {
	c := explicitAck(InboundConsumerName(domain), "Mailgent plugin for @"+domain, InboundFilter(domain), InboundAckWait, 50)
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

// WebhookAckWait is how long a relay may hold an event without settling
// it or saying it is in progress: well over one attempt (the relay's
// -webhook-timeout).
const WebhookAckWait = time.Minute

// WebhookConsumerConfig is the relays' shared durable consumer of webhook
// events. Retries are driven by the relay (NakWithDelay on the webhook
// schedule) until the event is a day old; MaxDeliver only bounds a
// message no relay can settle.
func WebhookConsumerConfig(domain string) jetstream.ConsumerConfig {
	c := explicitAck(WebhookConsumerName(domain), "Mailgent relays delivering @"+domain+" webhook events", WebhookSubject(domain), WebhookAckWait, 500)
	c.MaxAckPending = 256
	return c
}

// WebhookStatusConsumerConfig is the plugin's durable consumer of the
// relays' delivery attempts.
func WebhookStatusConsumerConfig(domain string) jetstream.ConsumerConfig {
	return explicitAck(WebhookStatusConsumerName(domain), "Mailgent plugin: webhook attempts for @"+domain, WebhookStatusSubject(domain), 30*time.Second, -1)
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
