package relay

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/mailgent/mailgent/internal/bus"
)

// The relay's key and its registration: the operator registers the key's
// public halves with the plugin (config/relays/:name), and until then the
// relay defers mail (the plugin would refuse what it seals).

// loadKey reads the relay key in -key-file, making it on first start (and
// saying it must be registered).
func loadKey(cfg Config, logger *slog.Logger) (key *bus.RelayKey, keyID string, err error) {
	key, created, err := bus.LoadOrCreateRelayKey(cfg.KeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("-key-file: %w", err)
	}
	pub, err := key.Public()
	if err != nil {
		return nil, "", fmt.Errorf("-key-file: %w", err)
	}
	keyID = bus.KeyID(pub.SigningKey)
	if created {
		logger.Warn("made a new relay key: register it with the plugin before this relay can accept mail",
			"key_file", cfg.KeyFile, "key_id", keyID, "register", "vault write <mount>/config/relays/<name> $(mailgent-relay -print-registration -key-file "+cfg.KeyFile+")")
	}
	return key, keyID, nil
}

// PrintRegistration writes the public halves of the relay key at path
// (made if missing) as "signing_key=… sealing_key=…", the arguments of
// `vault write <mount>/config/relays/<name>`.
func PrintRegistration(w io.Writer, path string) error {
	key, _, err := bus.LoadOrCreateRelayKey(path)
	if err != nil {
		return fmt.Errorf("-key-file: %w", err)
	}
	pub, err := key.Public()
	if err != nil {
		return err
	}
	reg := pub.Registration()
	_, err = fmt.Fprintf(w, "signing_key=%s sealing_key=%s\n", reg["signing_key"], reg["sealing_key"])
	return err
}
