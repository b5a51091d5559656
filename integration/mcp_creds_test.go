package integration

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/rfc6238"
)

// TestMCPCredentialTools drives the credential tools over MCP on the real
// stack: writes merge and honour cas, TOTP enrols from a base32 secret
// and from a QR image (base64), fresh codes never repeat a step, backup
// codes are handed out once each — and bad input changes nothing.
func TestMCPCredentialTools(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startInbound(t)
	a := startMCPAgent(ctx, t, s, "mcp-kit", s.onboardAgent(ctx, "mcp-kit"))
	seed := []byte("mcp-kit-seed-0123456")
	secret := base32.StdEncoding.EncodeToString(seed)
	version := func(name string) float64 {
		for _, c := range a.must("list_credentials", nil)["credentials"].([]any) {
			if c.(map[string]any)["name"] == name {
				return c.(map[string]any)["current_version"].(float64)
			}
		}
		return 0
	}
	// codeAt checks a code against the seed at the step valid_until ends.
	codeOf := func(out map[string]any) string {
		return rfc6238.Code(seed, "SHA1", 6, 30, parseTime(t, out["valid_until"]).Add(-30*time.Second))
	}

	t.Run("store merges and honours cas", func(t *testing.T) {
		a := a.on(t)
		require.EqualValues(t, 1, a.must("store_credential", map[string]any{"name": "site", "username": "kit", "password": "pw-kit-1", "cas": 0})["version"])
		require.EqualValues(t, 2, a.must("store_credential", map[string]any{"name": "site", "url": "https://site.example/login"})["version"])
		got := a.must("get_credential", map[string]any{"name": "site"})
		require.Equal(t, "pw-kit-1", got["password"], "a write keeps what it does not name")
		require.Equal(t, "https://site.example/login", got["url"])
		require.Contains(t, a.refused("store_credential", map[string]any{"name": "site", "password": "pw-kit-2", "cas": 1}), "cas")
		require.Contains(t, a.refused("store_credential", map[string]any{"name": "site", "url": "not a url"}), "url:")
		require.Contains(t, a.refused("store_credential", map[string]any{"name": "site"}), "nothing to store")
		require.Contains(t, a.refused("store_credential", map[string]any{"name": "site", "pasword": "typo"}), "pasword")
		require.EqualValues(t, 2, version("site"), "refused writes change nothing")
		require.Equal(t, "pw-kit-1", a.must("get_credential", map[string]any{"name": "site"})["password"])
	})

	t.Run("enrol from a secret", func(t *testing.T) {
		a := a.on(t)
		out := a.must("enroll_totp", map[string]any{"name": "site", "secret": strings.ToLower(secret), "min_remaining": 2})
		require.EqualValues(t, 3, out["version"])
		require.Equal(t, codeOf(out), out["code"])
		require.Equal(t, "SHA1", out["algorithm"])
		require.Equal(t, "pw-kit-1", a.must("get_credential", map[string]any{"name": "site"})["password"], "enrolment keeps the password")
		require.Contains(t, a.refused("enroll_totp", map[string]any{"name": "site", "secret": secret, "otpauth_uri": "otpauth://totp/x?secret=" + secret}),
			"give exactly one of otpauth_uri, secret, qr_image_path or qr_image_base64 (got 2: otpauth_uri, secret)")
		require.Contains(t, a.refused("enroll_totp", map[string]any{"name": "site", "secret": "not base32!"}), "totp_secret")
		require.EqualValues(t, 3, version("site"))
	})

	t.Run("enrol from a QR image", func(t *testing.T) {
		a := a.on(t)
		img, err := qrcode.Encode("otpauth://totp/Site:kit?secret="+strings.TrimRight(secret, "=")+"&issuer=Site", qrcode.Medium, 200)
		require.NoError(t, err)
		out := a.must("enroll_totp", map[string]any{"name": "qr-site", "qr_image_base64": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)})
		require.EqualValues(t, 1, out["version"])
		require.Equal(t, codeOf(out), out["code"])
		var blank bytes.Buffer
		require.NoError(t, png.Encode(&blank, image.NewGray(image.Rect(0, 0, 64, 64))))
		require.Contains(t, a.refused("enroll_totp", map[string]any{"name": "qr-site", "qr_image_base64": base64.StdEncoding.EncodeToString(blank.Bytes())}),
			"totp_qr", "a picture without a QR code is the plugin's 400, naming the field")
		require.EqualValues(t, 1, version("qr-site"))
	})

	t.Run("a fresh code never repeats a step", func(t *testing.T) {
		a := a.on(t)
		// One wait of at most a period: a plain code, then a fresh one.
		first := a.must("totp_code", map[string]any{"name": "site"})
		second := a.must("totp_code", map[string]any{"name": "site", "fresh": true})
		require.True(t, parseTime(t, second["valid_until"]).After(parseTime(t, first["valid_until"])), "%v then %v", first, second)
		require.Equal(t, codeOf(second), second["code"])
	})

	t.Run("backup codes are handed out once", func(t *testing.T) {
		a := a.on(t)
		codes := []string{"kit-backup-1111", "kit-backup-2222"}
		require.Contains(t, a.refused("use_backup_code", map[string]any{"name": "site"}), "409", "a credential without codes")
		a.must("store_credential", map[string]any{"name": "site", "backup_codes": codes})
		got := map[string]bool{}
		for left := 1; left >= 0; left-- {
			out := a.must("use_backup_code", map[string]any{"name": "site"})
			require.Contains(t, codes, out["code"])
			require.EqualValues(t, left, out["remaining"])
			got[out["code"].(string)] = true
		}
		require.Len(t, got, 2, "each code once")
		for _, c := range a.must("list_credentials", nil)["credentials"].([]any) {
			if c.(map[string]any)["name"] == "site" {
				require.EqualValues(t, 0, c.(map[string]any)["backup_codes_remaining"])
			}
		}
		require.Contains(t, a.refused("use_backup_code", map[string]any{"name": "site"}), "409", "none left")
		a.neverSaid([]string{"use_backup_code"}, codes...)
	})

	a.neverSaid(nil, secret, strings.TrimRight(secret, "="), strings.ToLower(strings.TrimRight(secret, "=")), string(seed))
}
