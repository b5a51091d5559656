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

// What the plugin hands the relays travels sealed: the content encrypted
// with AES-256-GCM under a fresh message key, the key sealed with HPKE to
// each registered relay's sealing key (any of them may handle it), and the
// whole signed with the plugin's Ed25519 key, so a relay acts only on what
// the plugin sent, and NATS (the stream, the blob store, a server's disk)
// holds none of it in clear. Queued outbound mail (header HeaderSeal =
// "outbound-2", this file) and webhook events (webhook_seal.go) use it,
// each with additional data of its own.
const outboundSealVersion = "outbound-2"

// outboundEnvelope is one sealed, signed message of the plugin's.
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

// signedBytes is what the plugin signs: every field, length-prefixed,
// after the additional data.
func (e *outboundEnvelope) signedBytes(ad []byte) []byte {
	out := frame.Append(ad, []byte(e.Signer))
	for _, w := range e.Wraps {
		out = frame.Append(out, []byte(w.Relay), w.Key)
	}
	return frame.Append(out, e.Nonce, e.Body)
}

// ErrNoRelays: no relay is registered, so no one could read the message.
var ErrNoRelays = errors.New("no relay is registered (config/relays): outbound mail could not be sealed to any")

// SealOutbound encrypts and signs a queued message for the given relays.
func SealOutbound(domain string, o *Outbound, signer ed25519.PrivateKey, relays []RelayPublic) ([]byte, error) {
	plain, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return sealForRelays(outboundAD(domain, o.ID), plain, signer, relays)
}

// sealForRelays encrypts plain under a fresh key sealed to each relay and
// signs the envelope, binding it to ad.
func sealForRelays(ad, plain []byte, signer ed25519.PrivateKey, relays []RelayPublic) ([]byte, error) {
	if len(relays) == 0 {
		return nil, ErrNoRelays
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
	e.Body = aead.Seal(nil, e.Nonce, plain, ad)
	for _, r := range relays {
		pk, err := hpkeKEM.NewPublicKey(r.SealingKey)
		if err != nil {
			return nil, fmt.Errorf("relay %s sealing key: %w", KeyID(r.SigningKey), err)
		}
		wrapped, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, ad, key)
		if err != nil {
			return nil, err
		}
		e.Wraps = append(e.Wraps, outboundWrap{Relay: KeyID(r.SigningKey), Key: wrapped})
	}
	e.Sig = ed25519.Sign(signer, e.signedBytes(ad))
	return json.Marshal(e)
}

var (
	// ErrForgedOutbound marks a queued message a relay must not deliver:
	// not signed by the plugin's key, not sealed to this relay, or altered.
	ErrForgedOutbound = errors.New("outbound message refused")
	// ErrNotSealedToThisRelay (with ErrForgedOutbound or ErrForgedWebhook)
	// marks a message the plugin sealed to other relays only: one of them
	// handles it.
	ErrNotSealedToThisRelay = errors.New("not sealed to this relay")
)

// OpenOutbound checks a queued message's signature against the plugin's
// signing key and opens it with the relay's key. id is the stream
// message's Nats-Msg-Id, which the sealed message must carry too.
func OpenOutbound(domain, id, version string, data []byte, plugin ed25519.PublicKey, relay *RelayKey) (*Outbound, error) {
	if version != outboundSealVersion {
		return nil, fmt.Errorf("%w: not sealed by the plugin (seal version %q)", ErrForgedOutbound, version)
	}
	plain, err := openFromPlugin(outboundAD(domain, id), data, plugin, relay, ErrForgedOutbound)
	if err != nil {
		return nil, err
	}
	var o Outbound
	if err := json.Unmarshal(plain, &o); err != nil || o.ID != id {
		return nil, fmt.Errorf("%w: the sealed message is not message %s", ErrForgedOutbound, id)
	}
	return &o, nil
}

// openFromPlugin checks an envelope's signature against the plugin's key
// and opens the content sealed to relay; every refusal wraps forged.
func openFromPlugin(ad, data []byte, plugin ed25519.PublicKey, relay *RelayKey, forged error) ([]byte, error) {
	if len(plugin) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the plugin's signing key is not known yet", forged)
	}
	var e outboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: undecodable: %v", forged, err)
	}
	if !ed25519.Verify(plugin, e.signedBytes(ad), e.Sig) {
		return nil, fmt.Errorf("%w: the signature does not verify with the plugin's key", forged)
	}
	mine := KeyID(relay.Signing.Public().(ed25519.PublicKey))
	for _, w := range e.Wraps {
		if w.Relay == mine {
			return e.open(ad, w, relay, forged)
		}
	}
	return nil, fmt.Errorf("%w: %w (key %s): register it with the plugin (config/relays)", forged, ErrNotSealedToThisRelay, mine)
}

// open decrypts a signed envelope's body with the message key in w, sealed
// to relay.
func (e *outboundEnvelope) open(ad []byte, w outboundWrap, relay *RelayKey, forged error) ([]byte, error) {
	priv, err := hpkeKEM.NewPrivateKey(relay.Sealing)
	if err != nil {
		return nil, err
	}
	key, err := hpke.Open(priv, hpkeKDF, hpkeAEAD, ad, w.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: the message key does not open with this relay's key", forged)
	}
	aead, err := aesGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, e.Nonce, e.Body, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: the body does not decrypt", forged)
	}
	return plain, nil
}
