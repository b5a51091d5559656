package plugin

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/devcerts"
)

// docConfigWrites are the `vault write mailgent/config k=v …` commands of a
// document, each as its fields, continuation lines joined.
func docConfigWrites(t *testing.T, path string) []map[string]string {
	t.Helper()
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(doc), "\\\n", " ")
	var writes []map[string]string
	for _, m := range regexp.MustCompile("vault write mailgent/config((?:[ \t]+[a-z_]+=[^\\s`]+)+)").FindAllStringSubmatch(text, -1) {
		w := map[string]string{}
		for _, arg := range strings.Fields(m[1]) {
			k, v, _ := strings.Cut(arg, "=")
			w[k] = v
		}
		writes = append(writes, w)
	}
	return writes
}

// Every config write docs/deploy.md gives is accepted, in the order given,
// by a fresh mount: its fields exist and its values are in range. Values
// read from a file (@…) stand for a password and the NATS CA.
func TestDeployGuideConfigWritesAreAccepted(t *testing.T) {
	writes := docConfigWrites(t, "../docs/deploy.md")
	require.GreaterOrEqual(t, len(writes), 3, "the guide's config writes were not found")
	ca, err := devcerts.Generate(t.TempDir(), []string{"nats-1.internal.example"}, time.Hour)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(ca.CA)
	require.NoError(t, err)
	tb := newTestBackend(t)
	for _, w := range writes {
		data := map[string]interface{}{}
		for k, v := range w {
			switch {
			case k == "nats_ca_cert" && strings.HasPrefix(v, "@"):
				data[k] = string(caPEM)
			case strings.HasPrefix(v, "@"):
				data[k] = "from-a-file"
			default:
				data[k] = v
			}
		}
		tb.ok(t, logical.UpdateOperation, "config", data)
	}
	resp := tb.ok(t, logical.ReadOperation, "config", nil)
	require.Equal(t, 3, resp.Data["nats_replicas"])
}
