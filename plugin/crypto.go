package plugin

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Envelope encryption of credential versions (the design's third invariant), on
// top of Vault's barrier:
//
//	plaintext ──AES-256-GCM(DEK, nonce, AD)──▶ ciphertext
//	DEK (random 256-bit, one per credential version)
//	    ──AES-256-GCM(KEK, nonce', AD)──▶ wrapped DEK
//	KEK (random 256-bit, one per agent, at keks/<agent>)
//
// AD binds both to mount, agent, credential and version, so an entry copied
// to another mount, agent, credential or version fails to open. Deleting
// the KEK makes every credential of the agent unreadable in one storage
// operation.

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // GCM standard nonce
	// envelopeFormat versions the AD layout and the sealed entry format.
	envelopeFormat = "mailgent-cred-v1"
)

// ErrDecrypt is returned when a sealed entry does not open: tampered,
// moved, or its agent's KEK was destroyed.
var ErrDecrypt = errors.New("credential does not decrypt: the entry was altered or moved, or its agent was revoked")

// sealed is one encrypted credential version as stored.
type sealed struct {
	// Format is envelopeFormat.
	Format string `json:"format"`
	// KEKID names the agent KEK that wrapped the DEK.
	KEKID string `json:"kek_id"`
	// WrappedDEK is nonce || AES-GCM(KEK, DEK).
	WrappedDEK []byte `json:"wrapped_dek"`
	// Ciphertext is nonce || AES-GCM(DEK, plaintext).
	Ciphertext []byte `json:"ciphertext"`
}

// Sealed inbox and sent-mail entries are stored in a compact binary form
// (credential versions stay JSON): base64 inside JSON made every message
// a third larger through gRPC and Vault's barrier. JSON entries (written
// by earlier versions) begin with '{' and still read.
//
//	0x00 | uvarint len(kek ID) | kek ID | uvarint len(wrapped DEK) | wrapped DEK | ciphertext
const sealedBinaryTag = 0x00

func (s *sealed) marshalBinary() []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(s.KEKID)+len(s.WrappedDEK)+len(s.Ciphertext))
	out = append(out, sealedBinaryTag)
	out = binary.AppendUvarint(out, uint64(len(s.KEKID)))
	out = append(out, s.KEKID...)
	out = binary.AppendUvarint(out, uint64(len(s.WrappedDEK)))
	out = append(out, s.WrappedDEK...)
	return append(out, s.Ciphertext...)
}

// unmarshalSealed reads either form.
func unmarshalSealed(b []byte) (*sealed, error) {
	if len(b) > 0 && b[0] == '{' {
		s := &sealed{}
		if err := json.Unmarshal(b, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	if len(b) == 0 || b[0] != sealedBinaryTag {
		return nil, ErrDecrypt
	}
	b = b[1:]
	field := func() ([]byte, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, ErrDecrypt
		}
		f := b[w : w+int(n)]
		b = b[w+int(n):]
		return f, nil
	}
	kekID, err := field()
	if err != nil {
		return nil, err
	}
	wrapped, err := field()
	if err != nil {
		return nil, err
	}
	return &sealed{Format: envelopeFormat, KEKID: string(kekID), WrappedDEK: wrapped, Ciphertext: b}, nil
}

// credAD is the additional data binding a sealed entry to its place.
func credAD(mountID, agent, cred string, version int) []byte {
	return bindAD(envelopeFormat, mountID, agent, cred, strconv.Itoa(version))
}

// inboxAD binds a sealed inbox entry (a message's summary, record chunk or
// raw chunk) to its mount, agent, message and part.
func inboxAD(mountID, agent, key, part string) []byte {
	return bindAD("mailgent-inbox-v1", mountID, agent, key, part)
}

// bindAD joins a label and fields, length-prefixed: no two different
// tuples give the same bytes.
func bindAD(label string, fields ...string) []byte {
	ad := []byte(label)
	for _, f := range fields {
		ad = strconv.AppendInt(append(ad, '|'), int64(len(f)), 10)
		ad = append(append(ad, ':'), f...)
	}
	return ad
}

func newKey() ([]byte, error) {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func gcmSeal(key, plaintext, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

func gcmOpen(key, box, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(box) < nonceSize+aead.Overhead() {
		return nil, ErrDecrypt
	}
	out, err := aead.Open(nil, box[:nonceSize], box[nonceSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// sealCredential encrypts plaintext under a fresh DEK wrapped by kek.
func sealCredential(kek *agentKEK, ad, plaintext []byte) (*sealed, error) {
	dek, err := newKey()
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	ct, err := gcmSeal(dek, plaintext, ad)
	if err != nil {
		return nil, err
	}
	wrapped, err := gcmSeal(kek.Key, dek, ad)
	if err != nil {
		return nil, err
	}
	return &sealed{Format: envelopeFormat, KEKID: kek.ID, WrappedDEK: wrapped, Ciphertext: ct}, nil
}

// openCredential unwraps the DEK with kek and decrypts.
func openCredential(kek *agentKEK, ad []byte, s *sealed) ([]byte, error) {
	if s.Format != envelopeFormat || s.KEKID != kek.ID {
		return nil, ErrDecrypt
	}
	dek, err := gcmOpen(kek.Key, s.WrappedDEK, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(dek) != keySize {
		return nil, ErrDecrypt
	}
	return gcmOpen(dek, s.Ciphertext, ad)
}
