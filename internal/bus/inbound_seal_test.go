package bus

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// registry is a RelayKeys of registered relays.
type registry map[string]ed25519.PublicKey

func (r registry) SigningKey(id string) ed25519.PublicKey { return r[id] }

func (r registry) add(t testing.TB, k *RelayKey) {
	t.Helper()
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	r[KeyID(pub.SigningKey)] = pub.SigningKey
}

func relayKey(t testing.TB) *RelayKey {
	t.Helper()
	k, err := GenerateRelayKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testKeys returns an Opener trusting one relay, that relay's Sealer and
// the plugin's public key.
func testKeys(t testing.TB) (*Opener, *Sealer, []byte, registry) {
	t.Helper()
	priv, pub, err := GenerateInboundKey()
	if err != nil {
		t.Fatal(err)
	}
	reg := registry{}
	k := relayKey(t)
	reg.add(t, k)
	o, err := NewOpener(priv, reg)
	if err != nil {
		t.Fatal(err)
	}
	return o, NewSealer(k), pub, reg
}

// payload is m's payload, as the relay makes it.
func payload(t testing.TB, m mailmsg.Message, raw []byte) *Payload {
	t.Helper()
	p, err := NewPayload(&m, raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encOf(t *testing.T, sealed []byte) []byte {
	t.Helper()
	n, w := binary.Uvarint(sealed[1:])
	return sealed[1+w : 1+w+int(n)]
}

func TestSealOpenRoundTripAndSessions(t *testing.T) {
	o, s, pub, _ := testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	raw := []byte("Subject: hi\r\n\r\nyour code is 123456\r\n")
	seal := func(agent, id string) []byte {
		t.Helper()
		msg := mailmsg.Message{ID: id, Subject: "hi", Text: "your code is 123456",
			Codes: []mailmsg.Code{{Code: "123456"}}, Attachments: []mailmsg.Attachment{{Filename: "a.pdf"}}}
		sealed, err := s.Seal(pub, "d.example", agent, payload(t, msg, raw))
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	a, b := seal("bot", "id1"), seal("bot", "id2")
	if !bytes.Equal(encOf(t, a), encOf(t, b)) {
		t.Fatal("two messages of one session should share the encapsulation")
	}
	if bytes.Equal(a[len(a)-40:], b[len(b)-40:]) {
		t.Fatal("ciphertexts should differ")
	}
	for _, c := range []struct {
		sealed []byte
		id     string
	}{{a, "id1"}, {b, "id2"}} {
		p, err := o.Open("d.example", "bot", c.id, "3", c.sealed)
		if err != nil {
			t.Fatal(err)
		}
		if p.Head.ID != c.id || p.Head.Subject != "hi" || p.Head.Code != "123456" || p.Head.Attachments != 1 || !bytes.Equal(p.Raw, raw) {
			t.Fatalf("opened %+v", p)
		}
		if p.RelayKeyID != KeyID(s.key.Signing.Public().(ed25519.PublicKey)) {
			t.Fatalf("relay key ID %q", p.RelayKeyID)
		}
		var m mailmsg.Message
		if err := json.Unmarshal(p.MessageJSON, &m); err != nil || m.ID != c.id || m.Text != "your code is 123456" {
			t.Fatalf("MessageJSON %q: %v", p.MessageJSON, err)
		}
	}

	// Bound to domain, agent and message ID; tampering is poison.
	tampered := bytes.Clone(a)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() error{
		"other agent":  func() error { _, err := o.Open("d.example", "eve", "id1", "3", a); return err },
		"other id":     func() error { _, err := o.Open("d.example", "bot", "id2", "3", a); return err },
		"other domain": func() error { _, err := o.Open("e.example", "bot", "id1", "3", a); return err },
		"tampered":     func() error { _, err := o.Open("d.example", "bot", "id1", "3", tampered); return err },
		"truncated":    func() error { _, err := o.Open("d.example", "bot", "id1", "3", a[:20]); return err },
		"empty":        func() error { _, err := o.Open("d.example", "bot", "id1", "3", nil); return err },
		"version 2":    func() error { _, err := o.Open("d.example", "bot", "id1", "2", a); return err },
		"as version 1": func() error { _, err := o.Open("d.example", "bot", "id1", "", a); return err },
	} {
		if err := open(); !errors.Is(err, ErrPoison) {
			t.Errorf("%s: want ErrPoison, got %v", name, err)
		}
	}
	// Another key pair cannot open it.
	other, _, _, _ := testKeys(t)
	if _, err := other.Open("d.example", "bot", "id1", "3", a); !errors.Is(err, ErrPoison) {
		t.Errorf("another key: %v", err)
	}

	// A new session after sessionMaxAge, and for another public key.
	now = now.Add(sessionMaxAge)
	c := seal("bot", "id3")
	if bytes.Equal(encOf(t, a), encOf(t, c)) {
		t.Fatal("a session older than sessionMaxAge should be replaced")
	}
	if _, err := o.Open("d.example", "bot", "id3", "3", c); err != nil {
		t.Fatal(err)
	}
}

// The plugin's public key is public: sealing to it is not enough to put
// mail in an inbox. Only a registered relay's signed session opens.
func TestOnlyRegisteredRelaysSessionsOpen(t *testing.T) {
	o, s, pub, reg := testKeys(t)
	msg := payload(t, mailmsg.Message{ID: "id1", Subject: "DMARC pass, trust me"}, []byte("raw"))

	stranger := NewSealer(relayKey(t))
	forged, err := stranger.Seal(pub, "d.example", "bot", msg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Open("d.example", "bot", "id1", "3", forged)
	if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("an unregistered relay's mail: %v", err)
	}

	// A stranger claiming a registered relay's key ID: its signature fails.
	good, err := s.Seal(pub, "d.example", "bot", msg)
	if err != nil {
		t.Fatal(err)
	}
	n, w := binary.Uvarint(forged[1:])
	idAt := 1 + w + int(n)
	copy(forged[idAt:idAt+keyIDLen], good[idAt:idAt+keyIDLen])
	_, err = o.Open("d.example", "bot", "id1", "3", forged)
	if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a forged session signature: %v", err)
	}
	// Replaying a registered relay's session header over another session's
	// ciphertext does not open either.
	splice := append(append([]byte{}, good[:idAt+keyIDLen+ed25519.SignatureSize]...), forged[idAt+keyIDLen+ed25519.SignatureSize:]...)
	if _, err := o.Open("d.example", "bot", "id1", "3", splice); !errors.Is(err, ErrPoison) {
		t.Fatalf("spliced: %v", err)
	}

	if _, err := o.Open("d.example", "bot", "id1", "3", good); err != nil {
		t.Fatal(err)
	}
	// Deregistered: once the Opener forgets its sessions, the relay's mail
	// no longer opens.
	clear(reg)
	o.Forget()
	if _, err := o.Open("d.example", "bot", "id1", "3", good); !errors.Is(err, ErrPoison) {
		t.Fatalf("after deregistration: %v", err)
	}
}

func TestOpenerSessionCacheIsBounded(t *testing.T) {
	o, _, pub, reg := testKeys(t)
	k := relayKey(t)
	reg.add(t, k)
	// Every message in a session of its own: the cache stays bounded.
	for i := range openerSessions + 10 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		sealed, err := NewSealer(k).Seal(pub, "d.example", "bot", payload(t, mailmsg.Message{ID: id}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open("d.example", "bot", id, "3", sealed); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(o.sessions); n > openerSessions {
		t.Fatalf("%d cached sessions, bound %d", n, openerSessions)
	}
}

func BenchmarkSeal(b *testing.B) {
	_, pub, err := GenerateInboundKey()
	if err != nil {
		b.Fatal(err)
	}
	p := payload(b, mailmsg.Message{ID: "x", Text: string(bytes.Repeat([]byte("a"), 4096))}, bytes.Repeat([]byte("a"), 4096))
	k := relayKey(b)
	b.Run("session", func(b *testing.B) {
		s := NewSealer(k)
		for b.Loop() {
			if _, err := s.Seal(pub, "d", "a", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-shot", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewSealer(k).Seal(pub, "d", "a", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Whatever arrives on the bus, Open returns a payload or an error: never a
// panic, and anything that is not what a registered relay sealed is
// ErrPoison.
func FuzzOpen(f *testing.F) {
	o, s, pub, _ := testKeys(f)
	good, err := s.Seal(pub, "d.example", "bot", payload(f, mailmsg.Message{ID: "id1"}, []byte("raw")))
	if err != nil {
		f.Fatal(err)
	}
	stranger, err := NewSealer(relayKey(f)).Seal(pub, "d.example", "bot", payload(f, mailmsg.Message{ID: "id1"}, []byte("raw")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "3")
	f.Add(stranger, "3")
	f.Add(good[:len(good)/2], "3")
	f.Add([]byte{3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "3")
	f.Add([]byte{3, 0}, "3")
	f.Add([]byte("x"), "")
	f.Fuzz(func(t *testing.T, sealed []byte, version string) {
		p, err := o.Open("d.example", "bot", "id1", version, sealed)
		if err != nil {
			if !errors.Is(err, ErrPoison) {
				t.Fatalf("not poison: %v", err)
			}
			return
		}
		if p.Head.ID != "id1" || !bytes.Equal(p.Raw, []byte("raw")) {
			t.Fatalf("opened a payload it should not: %+v", p)
		}
	})
}
