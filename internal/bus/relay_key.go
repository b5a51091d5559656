package bus

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Who may say what on the bus. NATS permissions keep each part to its
// subjects (see docs/api.md, security model), and on top of them every
// message says who sent it:
//
//   - A relay has a key of its own: an Ed25519 signing key and an HPKE
//     (ML-KEM-768+X25519) sealing key. The operator registers its public
//     halves with the plugin (config/relays/:name). Inbound mail is accepted
//     only from a registered relay's signed seal session, and outbound mail
//     is sealed to the registered relays' sealing keys, so only they can
//     read it.
//   - The plugin has a signing key of its own, published in the address
//     directory (which only the plugin may write); a relay delivers only
//     outbound mail that key signed.

// RelayKey is a relay's private key material.
type RelayKey struct {
	Signing ed25519.PrivateKey
	// Sealing is the HPKE private key (its seed bytes).
	Sealing []byte
}

// RelayPublic is what the operator registers for a relay.
type RelayPublic struct {
	SigningKey ed25519.PublicKey
	SealingKey []byte
}

// KeyID names a signing key in headers and logs: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(signing ed25519.PublicKey) string {
	sum := sha256.Sum256(signing)
	return hex.EncodeToString(sum[:8])
}

// GenerateRelayKey makes a new relay key.
func GenerateRelayKey() (*RelayKey, error) {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	seal, _, err := GenerateInboundKey()
	if err != nil {
		return nil, err
	}
	return &RelayKey{Signing: sign, Sealing: seal}, nil
}

// Public returns the key's public halves.
func (k *RelayKey) Public() (RelayPublic, error) {
	priv, err := hpkeKEM.NewPrivateKey(k.Sealing)
	if err != nil {
		return RelayPublic{}, fmt.Errorf("relay sealing key: %w", err)
	}
	return RelayPublic{SigningKey: k.Signing.Public().(ed25519.PublicKey), SealingKey: priv.PublicKey().Bytes()}, nil
}

// relayKeyFile is the JSON of a relay key file.
type relayKeyFile struct {
	Signing []byte `json:"signing_private"`
	Sealing []byte `json:"sealing_private"`
}

// LoadOrCreateRelayKey reads the relay key at path, or, when the file does
// not exist, makes one and writes it there (mode 0600). created tells which.
func LoadOrCreateRelayKey(path string) (k *RelayKey, created bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if k, err = GenerateRelayKey(); err != nil {
			return nil, false, err
		}
		data, err := json.Marshal(relayKeyFile{Signing: k.Signing.Seed(), Sealing: k.Sealing})
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		// O_EXCL: two relays started at once with one path share one key.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateRelayKey(path)
		}
		if err != nil {
			return nil, false, err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, false, err
		}
		return k, true, f.Close()
	}
	if err != nil {
		return nil, false, err
	}
	var kf relayKeyFile
	if err := json.Unmarshal(raw, &kf); err != nil || len(kf.Signing) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("%s is not a mailgent relay key file", path)
	}
	k = &RelayKey{Signing: ed25519.NewKeyFromSeed(kf.Signing), Sealing: kf.Sealing}
	if _, err := k.Public(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, false, nil
}

// Registration is the relay's public key as the fields of
// config/relays/:name.
func (p RelayPublic) Registration() map[string]string {
	return map[string]string{
		"signing_key": base64.StdEncoding.EncodeToString(p.SigningKey),
		"sealing_key": base64.StdEncoding.EncodeToString(p.SealingKey),
	}
}

// ParseRelayPublic checks the fields of a registration: a 32-byte Ed25519
// key and an HPKE public key of the inbound suite. The error names the field.
func ParseRelayPublic(signing, sealing string) (RelayPublic, error) {
	s, err := base64.StdEncoding.DecodeString(signing)
	if err != nil || len(s) != ed25519.PublicKeySize {
		return RelayPublic{}, fmt.Errorf("signing_key: must be a base64 Ed25519 public key (%d bytes)", ed25519.PublicKeySize)
	}
	p, err := base64.StdEncoding.DecodeString(sealing)
	if err != nil {
		return RelayPublic{}, errors.New("sealing_key: must be base64")
	}
	if _, err := hpkeKEM.NewPublicKey(p); err != nil {
		return RelayPublic{}, errors.New("sealing_key: not an ML-KEM-768+X25519 public key")
	}
	return RelayPublic{SigningKey: s, SealingKey: p}, nil
}
