package plugin

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/hashicorp/vault/sdk/logical"
)

// DKIM keys of the mount's domain, kept in Vault storage (seal-wrapped);
// the private halves never leave the plugin. Every outgoing message is
// signed with each current key — Ed25519 (RFC 8463) and RSA-2048 — so
// verifiers that know only RSA still verify.
const dkimStorageKey = "dkim_keys"

type dkimKey struct {
	Selector  string    `json:"selector"`
	Algorithm string    `json:"algorithm"` // ed25519 or rsa
	Private   []byte    `json:"private"`   // PKCS #8 DER
	Public    []byte    `json:"public"`    // the p= value, decoded
	CreatedAt time.Time `json:"created_at"`
}

type dkimKeys struct {
	Current []dkimKey `json:"current"`
	// Previous keys are no longer used to sign; their DNS records should
	// stay published until mail signed with them has been delivered.
	Previous  []dkimKey `json:"previous,omitempty"`
	RotatedAt time.Time `json:"rotated_at"`
}

func readDKIMKeys(ctx context.Context, s logical.Storage) (*dkimKeys, error) {
	return getJSON[dkimKeys](ctx, s, dkimStorageKey)
}

// ensureDKIMKeys makes the mount's DKIM keys, once, with the first config.
func (b *backend) ensureDKIMKeys(ctx context.Context, s logical.Storage) error {
	dk, err := readDKIMKeys(ctx, s)
	if err != nil || dk != nil {
		return err
	}
	now := b.now().UTC()
	fresh, err := newDKIMKeys(now)
	if err != nil {
		return fmt.Errorf("generate DKIM keys: %w", err)
	}
	return putJSON(ctx, s, dkimStorageKey, &dkimKeys{Current: fresh, RotatedAt: now})
}

// newDKIMKeys makes a fresh Ed25519 and RSA-2048 pair with new selectors.
func newDKIMKeys(now time.Time) ([]dkimKey, error) {
	stamp := "mg" + strconv.FormatInt(now.Unix(), 36)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	var keys []dkimKey
	for _, k := range []struct {
		alg    string
		priv   crypto.Signer
		public func() ([]byte, error)
	}{
		{"ed25519", edPriv, func() ([]byte, error) { return edPriv.Public().(ed25519.PublicKey), nil }},
		{"rsa", rsaPriv, func() ([]byte, error) { return x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey) }},
	} {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, err
		}
		pub, err := k.public()
		if err != nil {
			return nil, err
		}
		keys = append(keys, dkimKey{Selector: stamp + k.alg[:1], Algorithm: k.alg, Private: der, Public: pub, CreatedAt: now})
	}
	return keys, nil
}

// dnsTXT is the DNS TXT value publishing the key.
func (k dkimKey) dnsTXT() string {
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", k.Algorithm, base64.StdEncoding.EncodeToString(k.Public))
}

func (k dkimKey) dnsName(domain string) string { return k.Selector + "._domainkey." + domain }

// signDKIM signs raw with every current key, newest signature on top.
func signDKIM(raw []byte, domain string, keys []dkimKey) ([]byte, error) {
	out := raw
	for _, k := range keys {
		priv, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("DKIM key %s: %w", k.Selector, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("DKIM key %s is not a signer", k.Selector)
		}
		var buf bytes.Buffer
		if err := dkim.Sign(&buf, bytes.NewReader(out), &dkim.SignOptions{
			Domain:                 domain,
			Selector:               k.Selector,
			Signer:                 signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys: []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
				"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		}); err != nil {
			return nil, fmt.Errorf("DKIM sign with %s: %w", k.Selector, err)
		}
		out = buf.Bytes()
	}
	return out, nil
}
