package bus

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

func testKeys(t *testing.T) (*Opener, []byte) {
	t.Helper()
	priv, pub, err := GenerateInboundKey()
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(priv)
	if err != nil {
		t.Fatal(err)
	}
	return o, pub
}

func encOf(t *testing.T, sealed []byte) []byte {
	t.Helper()
	n, w := binary.Uvarint(sealed[1:])
	return sealed[1+w : 1+w+int(n)]
}

func TestSealOpenRoundTripAndSessions(t *testing.T) {
	o, pub := testKeys(t)
	s := NewSealer()
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	raw := []byte("Subject: hi\r\n\r\nyour code is 123456\r\n")
	seal := func(agent, id string) []byte {
		t.Helper()
		msg := mailmsg.Message{ID: id, Subject: "hi", Text: "your code is 123456",
			Codes: []mailmsg.Code{{Code: "123456"}}, Attachments: []mailmsg.Attachment{{Filename: "a.pdf"}}}
		sealed, err := s.Seal(pub, "d.example", agent, &Payload{Message: msg, Raw: raw})
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
		p, err := o.Open("d.example", "bot", c.id, "2", c.sealed)
		if err != nil {
			t.Fatal(err)
		}
		if p.Head.ID != c.id || p.Head.Subject != "hi" || p.Head.Code != "123456" || p.Head.Attachments != 1 || !bytes.Equal(p.Raw, raw) {
			t.Fatalf("opened %+v", p)
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
		"other agent":  func() error { _, err := o.Open("d.example", "eve", "id1", "2", a); return err },
		"other id":     func() error { _, err := o.Open("d.example", "bot", "id2", "2", a); return err },
		"other domain": func() error { _, err := o.Open("e.example", "bot", "id1", "2", a); return err },
		"tampered":     func() error { _, err := o.Open("d.example", "bot", "id1", "2", tampered); return err },
		"truncated":    func() error { _, err := o.Open("d.example", "bot", "id1", "2", a[:20]); return err },
		"empty":        func() error { _, err := o.Open("d.example", "bot", "id1", "2", nil); return err },
		"version 3":    func() error { _, err := o.Open("d.example", "bot", "id1", "3", a); return err },
		"as version 1": func() error { _, err := o.Open("d.example", "bot", "id1", "", a); return err },
	} {
		if err := open(); !errors.Is(err, ErrPoison) {
			t.Errorf("%s: want ErrPoison, got %v", name, err)
		}
	}
	// Another key pair cannot open it.
	other, _ := testKeys(t)
	if _, err := other.Open("d.example", "bot", "id1", "2", a); !errors.Is(err, ErrPoison) {
		t.Errorf("another key: %v", err)
	}

	// A new session after sessionMaxAge, and for another public key.
	now = now.Add(sessionMaxAge)
	c := seal("bot", "id3")
	if bytes.Equal(encOf(t, a), encOf(t, c)) {
		t.Fatal("a session older than sessionMaxAge should be replaced")
	}
	if _, err := o.Open("d.example", "bot", "id3", "2", c); err != nil {
		t.Fatal(err)
	}
	o2, pub2 := testKeys(t)
	d, err := s.Seal(pub2, "d.example", "bot", &Payload{Message: mailmsg.Message{ID: "id4"}, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o2.Open("d.example", "bot", "id4", "2", d); err != nil {
		t.Fatalf("after a key change: %v", err)
	}
}

func TestOpenVersion1AndSessionCacheBound(t *testing.T) {
	o, pub := testKeys(t)
	// What relays before version 2 published.
	pk, err := hpkeKEM.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(&Payload{Message: mailmsg.Message{ID: "old"}, Raw: []byte("raw")})
	v1, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, hpkeInfo("d.example", "bot", "old"), plain)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.Open("d.example", "bot", "old", "", v1)
	if err != nil || p.Head.ID != "old" || string(p.Raw) != "raw" || !bytes.Contains(p.MessageJSON, []byte(`"id":"old"`)) {
		t.Fatalf("version 1: %+v %v", p, err)
	}
	if _, err := o.Open("d.example", "bot", "old", "2", v1); !errors.Is(err, ErrPoison) {
		t.Fatalf("version 1 bytes under version 2: %v", err)
	}

	// Every message in a session of its own: the cache stays bounded.
	for i := range openerSessions + 10 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		sealed, err := Seal(pub, "d.example", "bot", &Payload{Message: mailmsg.Message{ID: id}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open("d.example", "bot", id, "2", sealed); err != nil {
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
	p := &Payload{Message: mailmsg.Message{ID: "x", Text: string(bytes.Repeat([]byte("a"), 4096))}, Raw: bytes.Repeat([]byte("a"), 4096)}
	b.Run("session", func(b *testing.B) {
		s := NewSealer()
		for b.Loop() {
			if _, err := s.Seal(pub, "d", "a", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-shot", func(b *testing.B) {
		for b.Loop() {
			if _, err := Seal(pub, "d", "a", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Whatever arrives on the bus, Open returns a payload or an error: never a
// panic, and anything that is not what Seal made is ErrPoison.
func FuzzOpen(f *testing.F) {
	priv, pub, err := GenerateInboundKey()
	if err != nil {
		f.Fatal(err)
	}
	o, err := NewOpener(priv)
	if err != nil {
		f.Fatal(err)
	}
	good, err := Seal(pub, "d.example", "bot", &Payload{Message: mailmsg.Message{ID: "id1"}, Raw: []byte("raw")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "2")
	f.Add(good[:len(good)/2], "2")
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "2")
	f.Add([]byte{2, 0}, "2")
	f.Add([]byte("x"), "")
	f.Fuzz(func(t *testing.T, sealed []byte, version string) {
		p, err := o.Open("d.example", "bot", "id1", version, sealed)
		if err != nil {
			if !errors.Is(err, ErrPoison) {
				t.Fatalf("not poison: %v", err)
			}
			return
		}
		if p.Head.ID != "id1" {
			t.Fatalf("opened a payload for %q", p.Head.ID)
		}
	})
}
