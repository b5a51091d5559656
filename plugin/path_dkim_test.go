package plugin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// config/dkim publishes the records of the current keys — Ed25519 and
// RSA, the RSA one also as selector/dns_name/dns_txt — and no private
// half; there are none before the first config write.
func TestDKIMRecords(t *testing.T) {
	tb := newTestBackend(t)
	_, err := tb.do(logical.ReadOperation, "config/dkim", nil)
	requireCoded(t, err, http.StatusNotFound)
	_, err = tb.do(logical.UpdateOperation, "config/dkim/rotate", nil)
	requireCoded(t, err, http.StatusNotFound)

	tb.setup(t)
	resp := tb.ok(t, logical.ReadOperation, "config/dkim", nil)
	require.Equal(t, testDomain, resp.Data["domain"])
	keys := resp.Data["keys"].([]map[string]interface{})
	require.Len(t, keys, 2)
	require.Empty(t, resp.Data["previous_keys"])
	for _, k := range keys {
		sel := k["selector"].(string)
		require.Equal(t, sel+"._domainkey."+testDomain, k["dns_name"])
		txt := k["dns_txt"].(string)
		prefix := fmt.Sprintf("v=DKIM1; k=%s; p=", k["algorithm"])
		require.True(t, strings.HasPrefix(txt, prefix), txt)
		pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(txt, prefix))
		require.NoError(t, err)
		switch k["algorithm"] {
		case "ed25519":
			require.Len(t, pub, ed25519.PublicKeySize)
		case "rsa":
			parsed, err := x509.ParsePKIXPublicKey(pub)
			require.NoError(t, err)
			require.Equal(t, 2048, parsed.(*rsa.PublicKey).N.BitLen())
			require.Equal(t, sel, resp.Data["selector"])
			require.Equal(t, k["dns_txt"], resp.Data["dns_txt"])
		default:
			t.Fatalf("algorithm %v", k["algorithm"])
		}
	}
	require.NotContains(t, fmt.Sprint(resp.Data), "PRIVATE")
	require.NotContains(t, fmt.Sprint(resp.Data), "private")
}

// Rotation makes new keys under new selectors and keeps the old ones'
// records listed; mail is signed with the new keys, and a second rotation
// within the second is refused.
func TestDKIMRotation(t *testing.T) {
	tb := newTestBackend(t)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return now }
	tb.setup(t)
	before := tb.ok(t, logical.ReadOperation, "config/dkim", nil).Data["keys"].([]map[string]interface{})

	now = now.Add(time.Hour)
	resp := tb.ok(t, logical.UpdateOperation, "config/dkim/rotate", nil)
	after := resp.Data["keys"].([]map[string]interface{})
	require.Equal(t, before, resp.Data["previous_keys"])
	for i := range after {
		require.NotEqual(t, before[i]["selector"], after[i]["selector"])
	}
	require.Equal(t, after, tb.ok(t, logical.ReadOperation, "config/dkim", nil).Data["keys"])

	// What the send path signs with verifies against the new records.
	_, keys, err := tb.configAndDKIM(context.Background(), tb.storage)
	require.NoError(t, err)
	signed, err := signDKIM([]byte("From: bot@"+testDomain+"\r\nTo: a@x.example\r\nSubject: hi\r\n\r\nhello\r\n"), testDomain, keys.Current)
	require.NoError(t, err)
	records := map[string]string{}
	for _, k := range after {
		records[k["dns_name"].(string)] = k["dns_txt"].(string)
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if v, ok := records[name]; ok {
			return []string{v}, nil
		}
		return nil, fmt.Errorf("no TXT for %s", name)
	}})
	require.NoError(t, err)
	require.Len(t, verifs, 2)
	for _, v := range verifs {
		require.NoError(t, v.Err)
	}

	resp, err = tb.do(logical.UpdateOperation, "config/dkim/rotate", nil)
	require.NoError(t, err)
	require.True(t, resp.IsError())
	require.Contains(t, resp.Error().Error(), "rotate:")
	require.Equal(t, after, tb.ok(t, logical.ReadOperation, "config/dkim", nil).Data["keys"], "a refused rotation changes nothing")
}
