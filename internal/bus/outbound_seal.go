package bus

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mailgent/mailgent/internal/frame"
)

// Queued messages travel sealed (header HeaderSeal = "outbound-2"): the
// Outbound's JSON encrypted with AES-256-GCM under a fresh message key, the
// key sealed with HPKE to each registered relay's sealing key (any of them
// may deliver it), and the whole signed with the plugin's Ed25519 key, so
// a relay delivers only what the plugin queued, and NATS (the stream, the
// blob store, a server's disk) holds no outbound mail in clear.
const outboundSealVersion = "outbound-2"

type outboundEnvelope struct {
	Signer string         `json:"signer"` // the plugin signing key's ID
	Wraps  []outboundWrap `json:"wraps"`
	Nonce  []byte         `json:"nonce"`
	Body   []byte         `json:"body"`
	Sig    []byte         `json:"sig"`
}

// outboundWrap is the message key sealed to one relay (HPKE enc‖ciphertext).
type outboundWrap struct {
	Relay string `json:"relay"`
	Key   []byte `json:"key"`
}

func outboundAD(domain, id string) []byte {
	return []byte("mailgent outbound v2\x00" + domain + "\x00" + id)
}

// signedBytes is what the plugin signs: every field, length-prefixed.
func (e *outboundEnvelope) signedBytes(domain, id string) []byte {
	out := frame.Append(outboundAD(domain, id), []byte(e.Signer))
	for _, w := range e.Wraps {
		out = frame.Append(out, []byte(w.Relay), w.Key)
	}
	return frame.Append(out, e.Nonce, e.Body)
}

// ErrNoRelays: no relay is registered, so no one could read the message.
var ErrNoRelays = errors.New("no relay is registered (config/relays): outbound mail could not be sealed to any")

// SealOutbound encrypts and signs a queued message for the given relays.
func SealOutbound(domain string, o *Outbound, signer ed25519.PrivateKey, relays []RelayPublic) ([]byte, error) {
	if len(relays) == 0 {
		return nil, ErrNoRelays
	}
	plain, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	e := &outboundEnvelope{Signer: KeyID(signer.Public().(ed25519.PublicKey)), Nonce: make([]byte, 12)}
	if _, err := rand.Read(e.Nonce); err != nil {
		return nil, err
	}
	aead, err := aesGCM(key)
	if err != nil {
		return nil, err
	}
	e.Body = aead.Seal(nil, e.Nonce, plain, outboundAD(domain, o.ID))
	for _, r := range relays {
		pk, err := hpkeKEM.NewPublicKey(r.SealingKey)
		if err != nil {
			return nil, fmt.Errorf("relay %s sealing key: %w", KeyID(r.SigningKey), err)
		}
		wrapped, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, outboundAD(domain, o.ID), key)
		if err != nil {
			return nil, err
		}
		e.Wraps = append(e.Wraps, outboundWrap{Relay: KeyID(r.SigningKey), Key: wrapped})
	}
	e.Sig = ed25519.Sign(signer, e.signedBytes(domain, o.ID))
	return json.Marshal(e)
}

var (
	// ErrForgedOutbound marks a queued message a relay must not deliver:
	// not signed by the plugin's key, not sealed to this relay, or altered.
	ErrForgedOutbound = errors.New("outbound message refused")
	// ErrNotSealedToThisRelay (with ErrForgedOutbound) marks a message the
	// plugin sealed to other relays only: one of them delivers it.
	ErrNotSealedToThisRelay = errors.New("not sealed to this relay")
)

// OpenOutbound checks a queued message's signature against the plugin's
// signing key and opens it with the relay's key. id is the stream
// message's Nats-Msg-Id, which the sealed message must carry too.
func OpenOutbound(domain, id, version string, data []byte, plugin ed25519.PublicKey, relay *RelayKey) (*Outbound, error) {
	if version != outboundSealVersion {
		return nil, fmt.Errorf("%w: not sealed by the plugin (seal version %q)", ErrForgedOutbound, version)
	}
	if len(plugin) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the plugin's signing key is not known yet", ErrForgedOutbound)
	}
	var e outboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: undecodable: %v", ErrForgedOutbound, err)
	}
	if !ed25519.Verify(plugin, e.signedBytes(domain, id), e.Sig) {
		return nil, fmt.Errorf("%w: the signature does not verify with the plugin's key", ErrForgedOutbound)
	}
	mine := KeyID(relay.Signing.Public().(ed25519.PublicKey))
	for _, w := range e.Wraps {
		if w.Relay == mine {
			return e.open(domain, id, w, relay)
		}
	}
	return nil, fmt.Errorf("%w: %w (key %s): register it with the plugin (config/relays)", ErrForgedOutbound, ErrNotSealedToThisRelay, mine)
}

// open decrypts a signed envelope's body with the message key in w, sealed
// to relay.
func (e *outboundEnvelope) open(domain, id string, w outboundWrap, relay *RelayKey) (*Outbound, error) {
	priv, err := hpkeKEM.NewPrivateKey(relay.Sealing)
	if err != nil {
		return nil, err
	}
	key, err := hpke.Open(priv, hpkeKDF, hpkeAEAD, outboundAD(domain, id), w.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: the message key does not open with this relay's key", ErrForgedOutbound)
	}
	aead, err := aesGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, e.Nonce, e.Body, outboundAD(domain, id))
	if err != nil {
		return nil, fmt.Errorf("%w: the body does not decrypt", ErrForgedOutbound)
	}
	var o Outbound
	if err := json.Unmarshal(plain, &o); err != nil || o.ID != id {
		return nil, fmt.Errorf("%w: the sealed message is not message %s", ErrForgedOutbound, id)
	}
	return &o, nil
}
