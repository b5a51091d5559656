package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signatures per the Standard Webhooks specification
// (https://www.standardwebhooks.com/): each delivery carries HeaderID,
// HeaderTimestamp and HeaderSignature, the last "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" keyed with the secret's decoded bytes.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	// SecretPrefix begins every secret: whsec_<base64 of the key>.
	SecretPrefix = "whsec_"
	// secretBytes is the key size of a secret the plugin makes.
	secretBytes = 32
)

// NewSecret makes a signing secret: whsec_ and 32 random bytes in base64.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ErrBadSecret: a secret that is not whsec_ and base64. It never carries
// the secret.
var ErrBadSecret = errors.New("webhook secret: not whsec_ and base64")

// SecretKey is the HMAC key of a secret (the prefix is optional, as the
// specification's libraries accept it).
func SecretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign is the webhook-signature value of a delivery of body with id, sent
// at ts.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := SecretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
