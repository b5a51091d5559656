package plugin

import (
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/bus"
)

// Every header the consumer acts on is checked before it reaches storage.
func TestInboundHeadersAreValidated(t *testing.T) {
	id := bus.MessageID("d.example", "bot", []byte("raw"))
	for _, tc := range []struct {
		name, id, agent, domain, blob, want string
	}{
		{"good", id, "bot", "d.example", "", ""},
		{"good with its blob", id, "bot", "d.example", id, ""},
		{"foreign domain", id, "bot", "e.example", "", "Mailgent-Domain"},
		{"no id", "", "bot", "d.example", "", "Nats-Msg-Id"},
		{"id not a hash", "probe-1", "bot", "d.example", "", "Nats-Msg-Id"},
		{"agent with a path", id, "bot/../config", "d.example", "", "Mailgent-Agent"},
		{"agent upper case", id, "Bot", "d.example", "", "Mailgent-Agent"},
		{"no agent", id, "", "d.example", "", "Mailgent-Agent"},
		{"another message's blob", id, "bot", "d.example", "out-x", "Mailgent-Blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkInboundHeaders(tc.id, tc.agent, tc.domain, tc.blob, "d.example")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
