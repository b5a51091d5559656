package bus

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
		MaxBytes:    BlobMaxBytes,
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

// hpkeInfo binds a version-1 payload to its domain, agent and message ID: a
// sealed payload replayed under another agent's subject does not open.
func hpkeInfo(domain, agent, id string) []byte {
	return []byte("mailgent inbound v1\x00" + domain + "\x00" + agent + "\x00" + id)
}

// Payload is what travels sealed: the parsed message and its raw source.
// Seal reads Message and Raw. Open returns Head, MessageJSON (Message as
// JSON, which the plugin stores as it is) and Raw, and leaves Message
// empty: decoding it would cost more than everything else the plugin does
// with a message but its storage calls.
type Payload struct {
	Message     mailmsg.Message `json:"message"`
	Raw         []byte          `json:"raw"`
	Head        mailmsg.Head    `json:"-"`
	MessageJSON []byte          `json:"-"`
}

// Sealed payloads, version 2 (header HeaderSeal = "2"):
//
//	0x02 | uvarint len(enc) | enc | nonce (12) | AES-256-GCM(key, nonce, body, ad)
//	body = uvarint len(head JSON) | head JSON (mailmsg.Head)
//	       | uvarint len(message JSON) | message JSON | raw source
//	ad   = "mailgent inbound v2" 0 domain 0 agent 0 message ID
//
// key is exported from an HPKE context (ML-KEM-768+X25519, HKDF-SHA256)
// set up to the plugin's public key. A Sealer keeps one context for
// sessionMaxAge / sessionMaxMessages and seals each message with a fresh
// random nonce under its key, so the KEM's encapsulation (about a third of
// the relay's CPU per message when done per message) runs once per
// session, and the plugin decapsulates once per session too (Opener caches
// the keys by enc). A message still opens on its own: it carries enc. What
// a session shares is only the key, in the memory of the relay that made it
// — which sees the same mail in clear anyway — for at most sessionMaxAge.
//
// Version 1 (no HeaderSeal; earlier relays): one-shot hpke.Seal of the
// Payload as JSON, with hpkeInfo. Open still reads it.
const (
	HeaderSeal         = "Mailgent-Seal"
	sealVersion2       = 2
	sessionMaxAge      = 10 * time.Minute
	sessionMaxMessages = 1 << 20
	sessionKeyLabel    = "mailgent inbound session key"
)

func sessionInfo(domain string) []byte {
	return []byte("mailgent inbound session v2\x00" + domain)
}

func messageAD(domain, agent, id string) []byte {
	return []byte("mailgent inbound v2\x00" + domain + "\x00" + agent + "\x00" + id)
}

// Sealer seals payloads to the plugin's public key; safe for concurrent use.
type Sealer struct {
	mu      sync.Mutex
	pub     []byte
	domain  string
	enc     []byte
	aead    cipher.AEAD
	created time.Time
	used    int
	now     func() time.Time
}

// NewSealer returns a Sealer with no session yet.
func NewSealer() *Sealer { return &Sealer{now: time.Now} }

// session returns the current session for pub and domain, starting a new
// one when there is none, the key or domain changed, or it is used up.
func (s *Sealer) session(pub []byte, domain string) ([]byte, cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead == nil || !bytes.Equal(s.pub, pub) || s.domain != domain ||
		s.now().Sub(s.created) >= sessionMaxAge || s.used >= sessionMaxMessages {
		pk, err := hpkeKEM.NewPublicKey(pub)
		if err != nil {
			return nil, nil, fmt.Errorf("inbound public key: %w", err)
		}
		enc, ctx, err := hpke.NewSender(pk, hpkeKDF, hpkeAEAD, sessionInfo(domain))
		if err != nil {
			return nil, nil, err
		}
		aead, err := sessionAEAD(ctx.Export)
		if err != nil {
			return nil, nil, err
		}
		s.pub, s.domain, s.enc, s.aead, s.created, s.used = bytes.Clone(pub), domain, enc, aead, s.now(), 0
	}
	s.used++
	return s.enc, s.aead, nil
}

func sessionAEAD(export func(string, int) ([]byte, error)) (cipher.AEAD, error) {
	key, err := export(sessionKeyLabel, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts a payload to the plugin's public key (version 2).
func (s *Sealer) Seal(pub []byte, domain, agent string, p *Payload) ([]byte, error) {
	enc, aead, err := s.session(pub, domain)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(p.Message.Head())
	if err != nil {
		return nil, err
	}
	msg, err := json.Marshal(&p.Message)
	if err != nil {
		return nil, err
	}
	body := make([]byte, 0, 2*binary.MaxVarintLen64+len(head)+len(msg)+len(p.Raw))
	body = binary.AppendUvarint(body, uint64(len(head)))
	body = append(body, head...)
	body = binary.AppendUvarint(body, uint64(len(msg)))
	body = append(append(body, msg...), p.Raw...)

	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(enc)+aead.NonceSize()+len(body)+aead.Overhead())
	out = append(out, sealVersion2)
	out = binary.AppendUvarint(out, uint64(len(enc)))
	out = append(out, enc...)
	nonce := out[len(out) : len(out)+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = out[:len(out)+len(nonce)]
	return aead.Seal(out, nonce, body, messageAD(domain, agent, p.Message.ID)), nil
}

// Seal encrypts one payload in a session of its own.
func Seal(pub []byte, domain, agent string, p *Payload) ([]byte, error) {
	return NewSealer().Seal(pub, domain, agent, p)
}

// ErrPoison marks a message that can never be processed: it is terminated,
// not retried.
var ErrPoison = errors.New("poison message")

// Opener decrypts payloads with the plugin's private key, parsed once
// (rebuilding the ML-KEM key from its seed costs more than a decryption),
// and keeps the keys of recent sessions; safe for concurrent use.
type Opener struct {
	key hpke.PrivateKey

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]cipher.AEAD
}

// openerSessions bounds the session keys an Opener keeps: a few per relay.
const openerSessions = 256

// NewOpener parses the private key.
func NewOpener(priv []byte) (*Opener, error) {
	k, err := hpkeKEM.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("inbound private key: %w", err)
	}
	return &Opener{key: k, sessions: map[[sha256.Size]byte]cipher.AEAD{}}, nil
}

// Open decrypts one payload. version is the message's HeaderSeal.
func (o *Opener) Open(domain, agent, id, version string, sealed []byte) (*Payload, error) {
	switch version {
	case "":
		return o.openV1(domain, agent, id, sealed)
	case "2":
	default:
		return nil, fmt.Errorf("%w: unknown seal version %q", ErrPoison, version)
	}
	undecryptable := fmt.Errorf("%w: payload does not decrypt (sealed to another key, or altered)", ErrPoison)
	if len(sealed) < 1 || sealed[0] != sealVersion2 {
		return nil, undecryptable
	}
	n, w := binary.Uvarint(sealed[1:])
	if w <= 0 || n > uint64(len(sealed)-1-w) {
		return nil, undecryptable
	}
	enc, rest := sealed[1+w:1+w+int(n)], sealed[1+w+int(n):]
	aead, err := o.sessionAEAD(domain, enc)
	if err != nil || len(rest) < aead.NonceSize() {
		return nil, undecryptable
	}
	body, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], messageAD(domain, agent, id))
	if err != nil {
		return nil, undecryptable
	}
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(body)
		if w <= 0 || n > uint64(len(body)-w) {
			return nil, fmt.Errorf("%w: payload does not decode", ErrPoison)
		}
		f := body[w : w+int(n)]
		body = body[w+int(n):]
		return f, nil
	}
	head, err := next()
	if err != nil {
		return nil, err
	}
	p := &Payload{}
	if p.MessageJSON, err = next(); err != nil {
		return nil, err
	}
	p.Raw = body
	if err := json.Unmarshal(head, &p.Head); err != nil {
		return nil, fmt.Errorf("%w: payload does not decode: %v", ErrPoison, err)
	}
	if p.Head.ID != id {
		return nil, fmt.Errorf("%w: payload ID %q does not match message ID %q", ErrPoison, p.Head.ID, id)
	}
	return p, nil
}

// sessionAEAD returns the key of the session enc belongs to, decapsulating
// it on first sight.
func (o *Opener) sessionAEAD(domain string, enc []byte) (cipher.AEAD, error) {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(enc)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	o.mu.Lock()
	aead, ok := o.sessions[id]
	o.mu.Unlock()
	if ok {
		return aead, nil
	}
	ctx, err := hpke.NewRecipient(enc, o.key, hpkeKDF, hpkeAEAD, sessionInfo(domain))
	if err != nil {
		return nil, err
	}
	if aead, err = sessionAEAD(ctx.Export); err != nil {
		return nil, err
	}
	o.mu.Lock()
	if len(o.sessions) >= openerSessions {
		for k := range o.sessions { // drop any one: a miss only costs a decapsulation
			delete(o.sessions, k)
			break
		}
	}
	o.sessions[id] = aead
	o.mu.Unlock()
	return aead, nil
}

func (o *Opener) openV1(domain, agent, id string, sealed []byte) (*Payload, error) {
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
	p.Head = p.Message.Head()
	if p.MessageJSON, err = json.Marshal(&p.Message); err != nil {
		return nil, err
	}
	p.Message = mailmsg.Message{}
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
	msg.Header.Set(HeaderSeal, "2")
	if len(sealed) > InlineLimit {
		if _, err := obs.PutBytes(ctx, id, sealed); err != nil {
			return false, fmt.Errorf("put blob: %w", classifyFull(err))
		}
		msg.Header.Set(HeaderBlob, id)
	} else {
		msg.Data = sealed
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		err = classifyFull(err)
		if len(sealed) > InlineLimit && (errors.Is(err, ErrAgentBacklog) || errors.Is(err, ErrBusFull)) {
			// Refused for good this time: the blob would wait for its TTL. (A
			// lost PubAck is not this case: the stream may have the message.)
			_ = obs.Delete(context.WithoutCancel(ctx), id)
		}
		return false, fmt.Errorf("publish: %w", err)
	}
	return ack.Duplicate, nil
}

// Errors of a full bus, so a relay can answer what a sender should hear.
var (
	// ErrAgentBacklog: the stream holds MaxPendingPerAgent messages for
	// this agent that the plugin has not stored yet.
	ErrAgentBacklog = errors.New("too much mail is waiting to be stored for this agent")
	// ErrBusFull: the stream or the blob store is at its size limit.
	ErrBusFull = errors.New("the mail bus is full")
)

// classifyFull wraps a JetStream refusal for want of room in ErrAgentBacklog
// or ErrBusFull (keeping err); any other error is returned as it is.
func classifyFull(err error) error {
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch {
	case strings.Contains(api.Description, "maximum messages per subject exceeded"):
		return fmt.Errorf("%w: %w", ErrAgentBacklog, err)
	case strings.Contains(api.Description, "maximum bytes exceeded"), strings.Contains(api.Description, "maximum messages exceeded"),
		strings.Contains(api.Description, "insufficient resources"):
		return fmt.Errorf("%w: %w", ErrBusFull, err)
	}
	return err
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
