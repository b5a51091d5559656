package relay

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/devcerts"
)

// The relay settings docs/deploy.md names exist, and its environment file
// makes a relay configuration that validates.
func TestDeployGuideRelaySettingsExist(t *testing.T) {
	b, err := os.ReadFile("../docs/deploy.md")
	require.NoError(t, err)
	doc := string(b)
	var cfg Config
	flags, envs := map[string]bool{"version": true, "print-registration": true}, map[string]bool{}
	for _, s := range cfg.settings() {
		flags[s.flag], envs[s.env] = s.flag != "", true
	}

	t.Run("environment file", func(t *testing.T) {
		ca, err := devcerts.Generate(t.TempDir(), []string{"nats-1.internal.example"}, time.Hour)
		require.NoError(t, err)
		file := map[string]string{}
		for _, m := range regexp.MustCompile(`(?m)^(MAILGENT_\w+)=(.*)$`).FindAllStringSubmatch(doc, -1) {
			require.True(t, envs[m[1]], "%s is not a relay setting", m[1])
			file[m[1]] = strings.NewReplacer("<from your secret store>", "a-secret").Replace(m[2])
		}
		require.GreaterOrEqual(t, len(file), 10, "the guide's relay environment file was not found")
		file["MAILGENT_NATS_CA_FILE"] = ca.CA
		got, err := ParseFlags(nil, func(k string) string { return file[k] }, io.Discard)
		require.NoError(t, err)
		require.Equal(t, "0.0.0.0:25", got.ListenAddr)
		require.Equal(t, "starttls", got.SmarthostTLS, "the guide says starttls is the default")
	})

	// Flags in inline code: a relay's, or one of the few Vault and DNS
	// tokens the guide also quotes.
	others := map[string]bool{"all": true, "audit-non-hmac-response-keys": true, "command": true, "env": true, "force": true, "scope": true}
	for _, m := range regexp.MustCompile("`-([a-z][a-z0-9-]*)").FindAllStringSubmatch(doc, -1) {
		require.True(t, flags[m[1]] || others[m[1]], "-%s is not a relay flag", m[1])
	}
	// MAILGENT_ names: relay settings, nats-server's password variables,
	// stream names, or make dev-cluster's .data/env.
	others = map[string]bool{bus.InboundStream: true, bus.OutboundStream: true, bus.StatusStream: true,
		"MAILGENT_NATS_PLUGIN_PASSWORD": true, "MAILGENT_NATS_RELAY_PASSWORD": true, "MAILGENT_SMTP_ADDRS": true}
	for _, name := range regexp.MustCompile(`MAILGENT_[A-Z_]+`).FindAllString(doc, -1) {
		require.True(t, envs[name] || others[name], "%s is not a relay setting", name)
	}
	users, err := os.ReadFile("../deploy/nats/mailgent-users.conf")
	require.NoError(t, err)
	require.Contains(t, string(users), "$MAILGENT_NATS_PLUGIN_PASSWORD")
	require.Contains(t, string(users), "$MAILGENT_NATS_RELAY_PASSWORD")
}
