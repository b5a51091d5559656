package bus

import (
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// The inbound path: relay → JetStream → plugin.
//
// Every accepted message is sealed to the plugin's HPKE public key, so NATS
// never holds mail in clear. A sealed payload up to InlineLimit rides in
// the stream message itself; a larger one is put in the blob object store
// (which chunks it) and the stream message carries only its name.
const (
	// DirectoryBucket is the KV bucket the plugin writes and relays read:
	// live agents and the HPKE public key, per domain.
	DirectoryBucket = "mailgent_directory"
	// BlobBucket is the object store for sealed payloads over InlineLimit.
	BlobBucket = "mailgent_inbound_blobs"
	// InlineLimit is the largest payload sent inside a stream message
	// (NATS's default max_payload is 1 MiB; headroom for headers).
	InlineLimit = 512 << 10

	// HeaderBlob names the blob holding the payload, when there is one.
	HeaderBlob = "Mailgent-Blob"
	// HeaderAgent and HeaderDomain say whom a message is for, in clear, so
	// the plugin can drop mail for unknown agents without decrypting it.
	HeaderAgent  = "Mailgent-Agent"
	HeaderDomain = "Mailgent-Domain"

	// blobTTL removes blobs a crashed plugin never deleted.
	blobTTL = 14 * 24 * time.Hour
)

// Directory keys: agent.<domain>.<agent> (value "active") and
// key.<domain> (value: the HPKE public key), names escaped by token.
func DirectoryAgentKey(domain, agent string) string {
	return "agent." + token(domain) + "." + token(agent)
}

// DirectoryAgentFilter matches every agent key of one domain.
func DirectoryAgentFilter(domain string) string { return "agent." + token(domain) + ".*" }

// DirectoryPublicKeyKey is where a domain's HPKE public key is published.
func DirectoryPublicKeyKey(domain string) string { return "key." + token(domain) }

// InboundSubject is the subject of mail for one agent of one domain.
func InboundSubject(domain, agent string) string {
	return InboundSubjectPrefix + token(domain) + "." + token(agent)
}

// InboundFilter is the consumer filter of one domain.
func InboundFilter(domain string) string {
	return InboundSubjectPrefix + token(domain) + ".>"
}

// ConsumerName is the durable consumer of the mount serving a domain.
func ConsumerName(domain string) string { return "mailgent-plugin-" + token(domain) }

// AgentFromDirectoryKey returns the agent of one of domain's directory
// keys, or "" if the key is not one.
func AgentFromDirectoryKey(domain, key string) string {
	rest, ok := strings.CutPrefix(key, "agent."+token(domain)+".")
	if !ok {
		return ""
	}
	return strings.NewReplacer("_2e", ".", "_5f", "_").Replace(rest)
}

// token makes a name ([a-z0-9._-]) one NATS subject token, injectively:
// '_' becomes "_5f" and '.' "_2e", so "a.b" and "a_b" stay apart.
func token(s string) string {
	return strings.NewReplacer("_", "_5f", ".", "_2e").Replace(s)
}

// EnsureInbound creates the directory bucket and blob store.
func EnsureInbound(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DirectoryBucket,
		Description: "Mailgent address directory: live agents and inbound public keys, written by the plugin",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ensure KV %s: %w", DirectoryBucket, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BlobBucket,
		Description: "Mailgent inbound payloads too large for one message, sealed to the plugin",
		TTL:         blobTTL,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ensure object store %s: %w", BlobBucket, err)
	}
	return kv, obs, nil
}

// HPKE suite for inbound mail: hybrid post-quantum KEM (ML-KEM-768 +
// X25519), HKDF-SHA256, AES-256-GCM — all in Go's crypto/hpke.
var (
	hpkeKEM  = hpke.MLKEM768X25519()
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

// GenerateInboundKey makes the plugin's key pair. The private key bytes
// live only in Vault storage.
func GenerateInboundKey() (priv, pub []byte, err error) {
	k, err := hpkeKEM.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	priv, err = k.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return priv, k.PublicKey().Bytes(), nil
}

// hpkeInfo binds a payload to its domain, agent and message ID: a sealed
// payload replayed under another agent's subject does not open.
func hpkeInfo(domain, agent, id string) []byte {
	return []byte("mailgent inbound v1\x00" + domain + "\x00" + agent + "\x00" + id)
}

// Payload is what travels sealed: the parsed message and its raw source.
type Payload struct {
	Message mailmsg.Message `json:"message"`
	Raw     []byte          `json:"raw"`
}

// Seal encrypts a payload to the plugin's public key.
func Seal(pub []byte, domain, agent string, p *Payload) ([]byte, error) {
	pk, err := hpkeKEM.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("inbound public key: %w", err)
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return hpke.Seal(pk, hpkeKDF, hpkeAEAD, hpkeInfo(domain, agent, p.Message.ID), plain)
}

// ErrPoison marks a message that can never be processed: it is terminated,
// not retried.
var ErrPoison = errors.New("poison message")

// Opener decrypts payloads with the plugin's private key, parsed once
// (rebuilding the ML-KEM key from its seed costs more than a decryption).
type Opener struct{ key hpke.PrivateKey }

// NewOpener parses the private key.
func NewOpener(priv []byte) (*Opener, error) {
	k, err := hpkeKEM.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("inbound private key: %w", err)
	}
	return &Opener{key: k}, nil
}

// Open decrypts one payload.
func (o *Opener) Open(domain, agent, id string, sealed []byte) (*Payload, error) {
	plain, err := hpke.Open(o.key, hpkeKDF, hpkeAEAD, hpkeInfo(domain, agent, id), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: payload does not decrypt (sealed to another key, or altered)", ErrPoison)
	}
	p := &Payload{}
	if err := json.Unmarshal(plain, p); err != nil {
		return nil, fmt.Errorf("%w: payload does not decode: %v", ErrPoison, err)
	}
	if p.Message.ID != id {
		return nil, fmt.Errorf("%w: payload ID %q does not match message ID %q", ErrPoison, p.Message.ID, id)
	}
	return p, nil
}

// MessageID derives a message's ID from the recipient and the bytes the
// sender sent, so a sender's retry of the same message (after a lost 250)
// gets the same ID and JetStream's and the inbox's dedup keep one copy.
func MessageID(domain, agent string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(agent + "@" + domain + "\n"))
	h.Write(raw)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:20]))
}

// Publish sends one sealed payload and returns once JetStream has it
// durably (PubAck, and for a blob every chunk acknowledged). dup tells a
// message JetStream had already seen.
func Publish(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore, domain, agent, id string, sealed []byte) (dup bool, err error) {
	msg := nats.NewMsg(InboundSubject(domain, agent))
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set(HeaderAgent, agent)
	msg.Header.Set(HeaderDomain, domain)
	if len(sealed) > InlineLimit {
		if _, err := obs.PutBytes(ctx, id, sealed); err != nil {
			return false, fmt.Errorf("put blob: %w", err)
		}
		msg.Header.Set(HeaderBlob, id)
	} else {
		msg.Data = sealed
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("publish: %w", err)
	}
	return ack.Duplicate, nil
}

// InboundConsumerConfig is the plugin's durable pull consumer: explicit
// acks after the Vault write; a transient failure is NAKed with a delay by
// the plugin; a message still failing after MaxDeliver attempts stays in
// the stream (work-queue retention) for an operator to look at — it is
// never dropped silently. No BackOff: it would shorten AckWait below the
// time a large message may take to store.
func InboundConsumerConfig(domain string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(domain),
		Description:   "Mailgent plugin for @" + domain,
		FilterSubject: InboundFilter(domain),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       60 * time.Second,
		MaxDeliver:    50,
		MaxAckPending: 256,
	}
}
