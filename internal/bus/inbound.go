package bus

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
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

// DirectorySignerKey is where the plugin publishes its outbound signing
// key (Ed25519, 32 bytes) for the relays to check queued mail with.
func DirectorySignerKey(domain string) string { return "signer." + token(domain) }

// DirectoryRelayKey marks a registered relay's key ID (value: its name), so
// a relay knows it is registered before it accepts mail it could not hand
// over.
func DirectoryRelayKey(domain, keyID string) string { return "relay." + token(domain) + "." + keyID }

// DirectoryRelayFilter matches every relay key of one domain.
func DirectoryRelayFilter(domain string) string { return "relay." + token(domain) + ".*" }

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

// Payload is what travels sealed: the parsed message and its raw source.
// Seal reads Message and Raw. Open returns Head, MessageJSON (Message as
// JSON, which the plugin stores as it is), Raw and the relay that sealed
// it, and leaves Message empty: decoding it would cost more than
// everything else the plugin does with a message but its storage calls.
type Payload struct {
	Message     mailmsg.Message `json:"message"`
	Raw         []byte          `json:"raw"`
	Head        mailmsg.Head    `json:"-"`
	MessageJSON []byte          `json:"-"`
	// RelayKeyID is the key ID of the relay whose signed session sealed it.
	RelayKeyID string `json:"-"`
}

// Sealed payloads, version 3 (header HeaderSeal = "3"):
//
//	0x03 | uvarint len(enc) | enc | relay key ID (8) | session signature (64)
//	     | nonce (12) | AES-256-GCM(key, nonce, body, ad)
//	body = uvarint len(head JSON) | head JSON (mailmsg.Head)
//	       | uvarint len(message JSON) | message JSON | raw source
//	ad   = "mailgent inbound v3" 0 domain 0 agent 0 message ID
//
// key is exported from an HPKE context (ML-KEM-768+X25519, HKDF-SHA256)
// set up to the plugin's public key, and the session signature is the
// relay's Ed25519 signature of (domain, enc). Only the relay that set up
// the context and the plugin know key, so a message that opens under a
// session whose signature verifies with a registered relay's key was
// sealed by that relay: the plugin's public key alone (which anyone may
// read) is not enough to put mail in an inbox. A Sealer keeps one context
// for sessionMaxAge / sessionMaxMessages and seals each message with a
// fresh random nonce, so the KEM's encapsulation and the signature run once
// per session, and the plugin decapsulates and verifies once per session
// too (Opener caches the keys by enc). A message still opens on its own:
// it carries enc and the signature.
//
// Earlier versions (no HeaderSeal, "2") were not signed: Open refuses them.
const (
	HeaderSeal         = "Mailgent-Seal"
	sealVersion3       = 3
	sealVersionHeader  = "3"
	sessionMaxAge      = 10 * time.Minute
	sessionMaxMessages = 1 << 20
	sessionKeyLabel    = "mailgent inbound session key"
	keyIDLen           = 8
)

func sessionInfo(domain string) []byte {
	return []byte("mailgent inbound session v2\x00" + domain)
}

// sessionSigned is what a relay signs for a session.
func sessionSigned(domain string, enc []byte) []byte {
	return append([]byte("mailgent inbound session v3\x00"+domain+"\x00"), enc...)
}

func messageAD(domain, agent, id string) []byte {
	return []byte("mailgent inbound v3\x00" + domain + "\x00" + agent + "\x00" + id)
}

// Sealer seals payloads to the plugin's public key under the relay's
// signed sessions; safe for concurrent use.
type Sealer struct {
	key   *RelayKey
	keyID []byte

	mu      sync.Mutex
	pub     []byte
	domain  string
	prefix  []byte // enc and signature fields, as on the wire
	aead    cipher.AEAD
	created time.Time
	used    int
	now     func() time.Time
}

// NewSealer returns a Sealer signing its sessions with the relay's key.
func NewSealer(key *RelayKey) *Sealer {
	id, _ := hex.DecodeString(KeyID(key.Signing.Public().(ed25519.PublicKey)))
	return &Sealer{key: key, keyID: id, now: time.Now}
}

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
		prefix := binary.AppendUvarint([]byte{sealVersion3}, uint64(len(enc)))
		prefix = append(append(prefix, enc...), s.keyID...)
		prefix = append(prefix, ed25519.Sign(s.key.Signing, sessionSigned(domain, enc))...)
		s.pub, s.domain, s.prefix, s.aead, s.created, s.used = bytes.Clone(pub), domain, prefix, aead, s.now(), 0
	}
	s.used++
	return s.prefix, s.aead, nil
}

func sessionAEAD(export func(string, int) ([]byte, error)) (cipher.AEAD, error) {
	key, err := export(sessionKeyLabel, 32)
	if err != nil {
		return nil, err
	}
	return aesGCM(key)
}

// aesGCM is AES-256-GCM under key.
func aesGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts a payload to the plugin's public key (version 3).
func (s *Sealer) Seal(pub []byte, domain, agent string, p *Payload) ([]byte, error) {
	prefix, aead, err := s.session(pub, domain)
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

	out := make([]byte, 0, len(prefix)+aead.NonceSize()+len(body)+aead.Overhead())
	out = append(out, prefix...)
	nonce := out[len(out) : len(out)+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = out[:len(out)+len(nonce)]
	return aead.Seal(out, nonce, body, messageAD(domain, agent, p.Message.ID)), nil
}

// ErrPoison marks a message that can never be processed: it is terminated,
// not retried.
var ErrPoison = errors.New("poison message")

// RelayKeys tells the Opener the signing key of a registered relay by key
// ID (nil when no registered relay has it).
type RelayKeys interface {
	SigningKey(keyID string) ed25519.PublicKey
}

// Opener decrypts payloads with the plugin's private key, parsed once
// (rebuilding the ML-KEM key from its seed costs more than a decryption),
// and keeps the keys of recent sessions whose signature it verified; safe
// for concurrent use.
type Opener struct {
	key    hpke.PrivateKey
	relays RelayKeys

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]openerSession
}

type openerSession struct {
	aead  cipher.AEAD
	keyID string
}

// openerSessions bounds the session keys an Opener keeps: a few per relay.
const openerSessions = 256

// NewOpener parses the private key.
func NewOpener(priv []byte, relays RelayKeys) (*Opener, error) {
	k, err := hpkeKEM.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("inbound private key: %w", err)
	}
	return &Opener{key: k, relays: relays, sessions: map[[sha256.Size]byte]openerSession{}}, nil
}

// Forget drops every session, so the next message of each is checked
// against the registered relays again (after a relay was deregistered).
func (o *Opener) Forget() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.sessions)
}

// Open decrypts one payload. version is the message's HeaderSeal.
func (o *Opener) Open(domain, agent, id, version string, sealed []byte) (*Payload, error) {
	switch version {
	case sealVersionHeader:
	case "", "2":
		return nil, fmt.Errorf("%w: unsigned payload (seal version %q): not from a relay that signs its mail", ErrPoison, version)
	default:
		return nil, fmt.Errorf("%w: unknown seal version %q", ErrPoison, version)
	}
	undecryptable := fmt.Errorf("%w: payload does not decrypt (sealed to another key, or altered)", ErrPoison)
	if len(sealed) < 1 || sealed[0] != sealVersion3 {
		return nil, undecryptable
	}
	n, w := binary.Uvarint(sealed[1:])
	if w <= 0 || n > uint64(len(sealed)-1-w) || len(sealed)-1-w-int(n) < keyIDLen+ed25519.SignatureSize {
		return nil, undecryptable
	}
	enc, rest := sealed[1+w:1+w+int(n)], sealed[1+w+int(n):]
	keyID, sig, rest := hex.EncodeToString(rest[:keyIDLen]), rest[keyIDLen:keyIDLen+ed25519.SignatureSize], rest[keyIDLen+ed25519.SignatureSize:]
	sess, err := o.session(domain, enc, keyID, sig)
	if err != nil {
		return nil, err
	}
	if len(rest) < sess.aead.NonceSize() {
		return nil, undecryptable
	}
	body, err := sess.aead.Open(nil, rest[:sess.aead.NonceSize()], rest[sess.aead.NonceSize():], messageAD(domain, agent, id))
	if err != nil {
		return nil, undecryptable
	}
	p, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	if p.Head.ID != id {
		return nil, fmt.Errorf("%w: payload ID %q does not match message ID %q", ErrPoison, p.Head.ID, id)
	}
	p.RelayKeyID = sess.keyID
	return p, nil
}

// decodeBody splits a decrypted body into head, message JSON and raw source.
func decodeBody(body []byte) (*Payload, error) {
	var fields [2][]byte
	for i := range fields {
		n, w := binary.Uvarint(body)
		if w <= 0 || n > uint64(len(body)-w) {
			return nil, fmt.Errorf("%w: payload does not decode", ErrPoison)
		}
		fields[i], body = body[w:w+int(n)], body[w+int(n):]
	}
	p := &Payload{MessageJSON: fields[1], Raw: body}
	if err := json.Unmarshal(fields[0], &p.Head); err != nil {
		return nil, fmt.Errorf("%w: payload does not decode: %v", ErrPoison, err)
	}
	return p, nil
}

// session returns the session enc belongs to, verifying its signature and
// decapsulating it on first sight.
func (o *Opener) session(domain string, enc []byte, keyID string, sig []byte) (openerSession, error) {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(enc)
	h.Write(sig)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	o.mu.Lock()
	sess, ok := o.sessions[id]
	o.mu.Unlock()
	if ok {
		return sess, nil
	}
	signer := o.relays.SigningKey(keyID)
	if signer == nil {
		return sess, fmt.Errorf("%w: sealed by relay key %s, which is not registered (config/relays)", ErrPoison, keyID)
	}
	if !ed25519.Verify(signer, sessionSigned(domain, enc), sig) {
		return sess, fmt.Errorf("%w: the seal session's signature does not verify with relay key %s (forged)", ErrPoison, keyID)
	}
	ctx, err := hpke.NewRecipient(enc, o.key, hpkeKDF, hpkeAEAD, sessionInfo(domain))
	if err != nil {
		return sess, fmt.Errorf("%w: payload does not decrypt (sealed to another key, or altered)", ErrPoison)
	}
	aead, err := sessionAEAD(ctx.Export)
	if err != nil {
		return sess, err
	}
	sess = openerSession{aead: aead, keyID: keyID}
	o.mu.Lock()
	if len(o.sessions) >= openerSessions {
		for k := range o.sessions { // drop any one: a miss only costs a decapsulation
			delete(o.sessions, k)
			break
		}
	}
	o.sessions[id] = sess
	o.mu.Unlock()
	return sess, nil
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
	msg.Header.Set(HeaderSeal, sealVersionHeader)
	if len(sealed) > InlineLimit {
		// A large payload goes to the blob store first; refuse it before
		// that when the agent's backlog is full, as the stream would: a
		// relay may not delete blobs (its NATS user cannot purge), so a
		// refused one would sit there until the bucket's TTL.
		if err := checkBacklog(ctx, js, InboundSubject(domain, agent)); err != nil {
			return false, fmt.Errorf("publish: %w", err)
		}
		if _, err := obs.PutBytes(ctx, id, sealed); err != nil {
			return false, fmt.Errorf("put blob: %w", classifyFull(err))
		}
		msg.Header.Set(HeaderBlob, id)
	} else {
		msg.Data = sealed
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("publish: %w", classifyFull(err))
	}
	return ack.Duplicate, nil
}

// checkBacklog returns ErrAgentBacklog when subject holds as many
// messages as the stream keeps per subject already.
func checkBacklog(ctx context.Context, js jetstream.JetStream, subject string) error {
	st, err := js.Stream(ctx, InboundStream)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return err
	}
	if limit := info.Config.MaxMsgsPerSubject; limit > 0 && uint64(info.State.Subjects[subject]) >= uint64(limit) {
		return fmt.Errorf("%w: %d messages", ErrAgentBacklog, info.State.Subjects[subject])
	}
	return nil
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
