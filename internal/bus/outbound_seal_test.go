package bus

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOutboundIsSignedAndSealedToRelays(t *testing.T) {
	_, plugin, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pluginPub := plugin.Public().(ed25519.PublicKey)
	r1, r2, stranger := relayKey(t), relayKey(t), relayKey(t)
	pub := func(k *RelayKey) RelayPublic {
		p, err := k.Public()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	o := &Outbound{ID: "q1", MessageID: "m@d.example", Agent: "bot", MailFrom: "bot@d.example", Rcpts: []string{"x@y.example"},
		Raw: []byte("Subject: secret code 123456\r\n\r\nbody"), QueuedAt: time.Unix(1_800_000_000, 0).UTC()}
	data, err := SealOutbound("d.example", o, plugin, []RelayPublic{pub(r1), pub(r2)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "123456") || strings.Contains(string(data), "x@y.example") {
		t.Fatal("the queued message is in clear")
	}
	for _, k := range []*RelayKey{r1, r2} {
		got, err := OpenOutbound("d.example", "q1", outboundSealVersion, data, pluginPub, k)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != "q1" || string(got.Raw) != string(o.Raw) || got.MailFrom != o.MailFrom || got.Rcpts[0] != "x@y.example" {
			t.Fatalf("opened %+v", got)
		}
	}
	refused := func(name string, err error, want string) {
		t.Helper()
		if !errors.Is(err, ErrForgedOutbound) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = OpenOutbound("d.example", "q1", outboundSealVersion, data, pluginPub, stranger)
	refused("a relay it was not sealed to", err, "not sealed to this relay")
	_, err = OpenOutbound("d.example", "q2", outboundSealVersion, data, pluginPub, r1)
	refused("under another message ID", err, "signature")
	_, err = OpenOutbound("e.example", "q1", outboundSealVersion, data, pluginPub, r1)
	refused("for another domain", err, "signature")
	_, err = OpenOutbound("d.example", "q1", "", data, pluginPub, r1)
	refused("unsealed version", err, "not sealed by the plugin")
	plainJSON, _ := json.Marshal(o)
	_, err = OpenOutbound("d.example", "q1", outboundSealVersion, plainJSON, pluginPub, r1)
	refused("a plain queued message", err, "signature")

	// Someone with relay credentials queues its own message, sealed to the
	// relays but signed with another key: refused.
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := SealOutbound("d.example", o, forger, []RelayPublic{pub(r1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenOutbound("d.example", "q1", outboundSealVersion, forged, pluginPub, r1)
	refused("signed by another key", err, "signature")

	// Tampering with any part breaks the signature.
	var e outboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	e.Body[0] ^= 1
	tampered, _ := json.Marshal(&e)
	_, err = OpenOutbound("d.example", "q1", outboundSealVersion, tampered, pluginPub, r1)
	refused("tampered body", err, "signature")

	if _, err := SealOutbound("d.example", o, plugin, nil); !errors.Is(err, ErrNoRelays) {
		t.Errorf("no relays: %v", err)
	}
}
