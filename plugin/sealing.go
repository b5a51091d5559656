package plugin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/frame"
)

// Sealing: everything an agent owns — credential versions, inbox entries,
// sent-mail records — is sealed with envelope encryption under the
// agent's KEK, on top of Vault's barrier (docs/architecture.md,
// invariant 3):
//
//	plaintext ──AES-256-GCM(DEK, nonce, AD)──▶ ciphertext
//	DEK (random 256-bit, one per sealed entry)
//	    ──AES-256-GCM(KEK, nonce', AD)──▶ wrapped DEK
//	KEK (random 256-bit, one per agent, at keks/<agent>)
//
// AD binds both to the entry's place (mount, agent, and the credential
// and version, or the message and part), so an entry copied anywhere else
// does not open. Deleting the KEK makes everything of the agent unreadable
// in one storage operation.

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // GCM standard nonce
	// envelopeFormat versions the AD layout and the sealed entry format.
	envelopeFormat = "mailgent-cred-v1"
)

// ErrDoesNotOpen is returned when a sealed entry does not open: tampered,
// moved, or its agent's KEK was destroyed. (A credential read says
// "credential does not decrypt: …", see openVersion.)
var ErrDoesNotOpen = errors.New("does not decrypt: the entry was altered or moved, or its agent was revoked")

// sealedBox is one sealed entry.
type sealedBox struct {
	// Format is envelopeFormat.
	Format string `json:"format"`
	// KEKID names the agent KEK that wrapped the DEK.
	KEKID string `json:"kek_id"`
	// WrappedDEK is nonce || AES-GCM(KEK, DEK).
	WrappedDEK []byte `json:"wrapped_dek"`
	// Ciphertext is nonce || AES-GCM(DEK, plaintext).
	Ciphertext []byte `json:"ciphertext"`
}

// seal encrypts plaintext under a fresh DEK wrapped by kek.
func seal(kek *agentKEK, ad, plaintext []byte) (*sealedBox, error) {
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
	return &sealedBox{Format: envelopeFormat, KEKID: kek.ID, WrappedDEK: wrapped, Ciphertext: ct}, nil
}

// open unwraps the DEK with kek and decrypts.
func open(kek *agentKEK, ad []byte, box *sealedBox) ([]byte, error) {
	if box.Format != envelopeFormat || box.KEKID != kek.ID {
		return nil, ErrDoesNotOpen
	}
	dek, err := gcmOpen(kek.Key, box.WrappedDEK, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(dek) != keySize {
		return nil, ErrDoesNotOpen
	}
	return gcmOpen(dek, box.Ciphertext, ad)
}

// Credential versions are stored as JSON (putJSON of a sealedBox); inbox
// entries and sent-mail records in a compact binary form, since base64
// inside JSON makes every message larger through gRPC and Vault's
// barrier:
//
//	0x00 | uvarint len(kek ID) | kek ID | uvarint len(wrapped DEK) | wrapped DEK | ciphertext
const sealedBinaryTag = 0x00

// binary is the box in its binary form.
func (box *sealedBox) binary() []byte {
	kekID := []byte(box.KEKID)
	out := make([]byte, 0, 1+frame.Size(kekID, box.WrappedDEK)+len(box.Ciphertext))
	out = frame.Append(append(out, sealedBinaryTag), kekID, box.WrappedDEK)
	return append(out, box.Ciphertext...)
}

// parseSealedBox reads a stored inbox or sent-mail entry, in the binary
// form or the JSON one of earlier versions (upgrade.go).
func parseSealedBox(b []byte) (*sealedBox, error) {
	if isSealedJSON(b) {
		return parseSealedJSON(b)
	}
	if len(b) == 0 || b[0] != sealedBinaryTag {
		return nil, ErrDoesNotOpen
	}
	fields, ciphertext, err := frame.Split(b[1:], 2)
	if err != nil {
		return nil, ErrDoesNotOpen
	}
	return &sealedBox{Format: envelopeFormat, KEKID: string(fields[0]), WrappedDEK: fields[1], Ciphertext: ciphertext}, nil
}

// putSealed seals plain and writes it at key in the binary form.
func putSealed(ctx context.Context, s logical.Storage, kek *agentKEK, key string, ad, plain []byte) error {
	box, err := seal(kek, ad, plain)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, &logical.StorageEntry{Key: key, Value: box.binary()}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// getSealed reads and opens the entry at key; (nil, nil) when absent.
func getSealed(ctx context.Context, s logical.Storage, kek *agentKEK, key string, ad []byte) ([]byte, error) {
	e, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if e == nil {
		return nil, nil
	}
	box, err := parseSealedBox(e.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	plain, err := open(kek, ad, box)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return plain, nil
}

// credAD is the additional data binding a credential version to its place.
func credAD(mountID, agent, cred string, version int) []byte {
	return bindAD(envelopeFormat, mountID, agent, cred, strconv.Itoa(version))
}

// inboxAD binds a sealed inbox entry (a message's summary, record chunk or
// raw chunk) to its mount, agent, message and part.
func inboxAD(mountID, agent, key, part string) []byte {
	return bindAD("mailgent-inbox-v1", mountID, agent, key, part)
}

// sentAD binds a sent-mail record to its mount, agent and key.
func sentAD(mountID, agent, key string) []byte {
	return bindAD("mailgent-sent-v1", mountID, agent, key)
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
		return nil, ErrDoesNotOpen
	}
	out, err := aead.Open(nil, box[:nonceSize], box[nonceSize:], ad)
	if err != nil {
		return nil, ErrDoesNotOpen
	}
	return out, nil
}
