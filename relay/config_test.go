package relay

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagsEnvThenFlags(t *testing.T) {
	cfg, err := ParseFlags(
		[]string{"-max-recipients", "7", "-read-timeout", "5s"},
		env(map[string]string{
			"MAILGENT_DOMAIN":                  "Agents.Example.com",
			"MAILGENT_NATS_URL":                "nats://10.0.0.1:4222",
			"MAILGENT_NATS_PASSWORD":           "pw",
			"MAILGENT_RELAY_MAX_RECIPIENTS":    "3",
			"MAILGENT_RELAY_MAX_MESSAGE_BYTES": "2048",
		}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "agents.example.com", cfg.Domain)
	require.Equal(t, "nats://10.0.0.1:4222", cfg.NATS.URL)
	require.Equal(t, "pw", cfg.NATS.Password)
	require.Equal(t, 7, cfg.MaxRecipients, "a flag wins over the environment")
	require.Equal(t, int64(2048), cfg.MaxMessageBytes)
	require.Equal(t, 5*time.Second, cfg.ReadTimeout)
	require.Equal(t, DefaultConfig().MaxLineLength, cfg.MaxLineLength)
}

func TestParseFlagsErrorsNameTheSetting(t *testing.T) {
	base := []string{"-domain", "agents.example.com"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no domain", nil, nil, "-domain"},
		{"bad domain", []string{"-domain", "localhost"}, nil, "-domain"},
		{"bad nats url", append(base, "-nats-url", "http://x:1"), nil, "-nats-url"},
		{"tiny size", append(base, "-max-message-bytes", "10"), nil, "-max-message-bytes"},
		{"negative recipients", append(base, "-max-recipients", "-1"), nil, "-max-recipients"},
		{"short lines", append(base, "-max-line-length", "80"), nil, "-max-line-length"},
		{"zero timeout", append(base, "-read-timeout", "0s"), nil, "-read-timeout"},
		{"zero sessions", append(base, "-max-sessions-per-ip", "0"), nil, "-max-sessions-per-ip"},
		{"half tls", append(base, "-tls-cert", "c.pem"), nil, "-tls-key"},
		{"bad listen", append(base, "-listen", "nope"), nil, "-listen"},
		{"bad log level", append(base, "-log-level", "loud"), nil, "-log-level"},
		{"bad log format", append(base, "-log-format", "xml"), nil, "-log-format"},
		{"bad env int", base, map[string]string{"MAILGENT_RELAY_MAX_RECIPIENTS": "ten"}, "MAILGENT_RELAY_MAX_RECIPIENTS"},
		{"bad env duration", base, map[string]string{"MAILGENT_RELAY_READ_TIMEOUT": "soon"}, "MAILGENT_RELAY_READ_TIMEOUT"},
		{"stray argument", append(base, "extra"), nil, "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlags(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseFlagsVersion(t *testing.T) {
	_, err := ParseFlags([]string{"-version"}, env(nil), io.Discard)
	require.True(t, errors.Is(err, ErrVersion))
}
