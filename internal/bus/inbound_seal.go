package bus

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailgent/mailgent/internal/frame"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Sealing inbound mail: every message a relay accepts is sealed to the
// plugin's HPKE public key under the relay's signed session, so NATS never
// holds mail in clear and only a registered relay can put mail in an inbox.
// inbound_publish.go hands the sealed bytes to the stream.

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

// Payload is what travels sealed, the same going in (Seal) and coming out
// (Open): what the plugin files an inbox entry by (Head), what it stores as
// the message (MessageJSON, a mailmsg.Message as JSON, kept as bytes so the
// plugin never decodes it) and the source the sender sent (Raw). NewPayload
// makes one from a parsed message.
type Payload struct {
	Head        mailmsg.Head
	MessageJSON []byte
	Raw         []byte
	// RelayKeyID is, from Open, the key ID of the relay whose signed
	// session sealed it; Seal ignores it.
	RelayKeyID string
}

// NewPayload is a parsed message's payload: its head and its JSON,
// marshalled once, and its raw source.
func NewPayload(m *mailmsg.Message, raw []byte) (*Payload, error) {
	msg, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Payload{Head: m.Head(), MessageJSON: msg, Raw: raw}, nil
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
// Seal versions "" (no HeaderSeal) and "2" are not signed: Open refuses
// them as poison, since whoever sealed them cannot be known.
const (
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
		prefix := frame.Append([]byte{sealVersion3}, enc)
		prefix = append(prefix, s.keyID...)
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

// Seal encrypts a payload to the plugin's public key (version 3).
func (s *Sealer) Seal(pub []byte, domain, agent string, p *Payload) ([]byte, error) {
	prefix, aead, err := s.session(pub, domain)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(&p.Head)
	if err != nil {
		return nil, err
	}
	body := make([]byte, 0, frame.Size(head, p.MessageJSON)+len(p.Raw))
	body = append(frame.Append(body, head, p.MessageJSON), p.Raw...)

	out := make([]byte, 0, len(prefix)+aead.NonceSize()+len(body)+aead.Overhead())
	out = append(out, prefix...)
	nonce := out[len(out) : len(out)+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = out[:len(out)+len(nonce)]
	return aead.Seal(out, nonce, body, messageAD(domain, agent, p.Head.ID)), nil
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
// rather than per message (rebuilding the ML-KEM key from its seed is
// costly, see docs/benchmarks.md), and keeps the keys of recent sessions
// whose signature it verified; safe for concurrent use.
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
	fields, rest, err := frame.Split(sealed[1:], 1)
	if err != nil || len(rest) < keyIDLen+ed25519.SignatureSize {
		return nil, undecryptable
	}
	enc := fields[0]
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
	fields, raw, err := frame.Split(body, 2)
	if err != nil {
		return nil, fmt.Errorf("%w: payload does not decode", ErrPoison)
	}
	p := &Payload{MessageJSON: fields[1], Raw: raw}
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
