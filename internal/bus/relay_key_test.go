package bus

import (
	"bytes"
	"testing"
)

func TestRelayKeyFileAndRegistration(t *testing.T) {
	path := t.TempDir() + "/relay/key.json"
	k, created, err := LoadOrCreateRelayKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again, created, err := LoadOrCreateRelayKey(path)
	if err != nil || created || !bytes.Equal(again.Signing, k.Signing) || !bytes.Equal(again.Sealing, k.Sealing) {
		t.Fatalf("reload: %v %v", created, err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	reg := pub.Registration()
	back, err := ParseRelayPublic(reg["signing_key"], reg["sealing_key"])
	if err != nil || !bytes.Equal(back.SigningKey, pub.SigningKey) || !bytes.Equal(back.SealingKey, pub.SealingKey) {
		t.Fatalf("parse: %v", err)
	}
	for _, bad := range [][2]string{{"x", reg["sealing_key"]}, {reg["signing_key"], "AAAA"}, {reg["sealing_key"], reg["sealing_key"]}} {
		if _, err := ParseRelayPublic(bad[0], bad[1]); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
