package bus

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
)

// One HPKE suite for every key on the bus (the plugin's inbound key, the
// relays' sealing keys): hybrid post-quantum KEM (ML-KEM-768 + X25519),
// HKDF-SHA256, AES-256-GCM — all in Go's crypto/hpke.
var (
	hpkeKEM  = hpke.MLKEM768X25519()
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

// aesGCM is AES-256-GCM under key.
func aesGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
