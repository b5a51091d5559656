package mcpserver

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
)

func testPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))))
	return buf.Bytes()
}

// enroll_totp takes exactly one seed form and hands the plugin only what
// it decodes: an image never goes on unless it is a PNG, JPEG or GIF.
func TestEnrollTOTPInputs(t *testing.T) {
	pngBytes := testPNG(t)
	b64 := base64.StdEncoding.EncodeToString(pngBytes)
	dir := t.TempDir()
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, content, 0o600))
		return p
	}
	qrFile := file("qr.png", pngBytes)
	textFile := file("notes.txt", []byte("SECRET-CONTENT of a file that is not an image"))
	bigFile := file("big.png", append(pngBytes, make([]byte, client.MaxQRImageBytes)...))
	uri := "otpauth://totp/Site:bot?secret=JBSWY3DPEHPK3PXP&issuer=Site"
	for _, tc := range []struct {
		name string
		in   EnrollTOTPIn
		want client.Credential
		err  string
	}{
		{name: "uri", in: EnrollTOTPIn{OTPAuthURI: uri}, want: client.Credential{TOTPURI: uri}},
		{name: "secret", in: EnrollTOTPIn{Secret: "JBSW Y3DP EHPK 3PXP"}, want: client.Credential{TOTPSecret: "JBSW Y3DP EHPK 3PXP"}},
		{name: "image file", in: EnrollTOTPIn{QRImagePath: qrFile}, want: client.Credential{TOTPQR: pngBytes}},
		{name: "base64", in: EnrollTOTPIn{QRImageBase64: b64}, want: client.Credential{TOTPQR: pngBytes}},
		{name: "base64 unpadded, wrapped", in: EnrollTOTPIn{QRImageBase64: strings.TrimRight(b64[:20]+"\n"+b64[20:], "=")}, want: client.Credential{TOTPQR: pngBytes}},
		{name: "data URL", in: EnrollTOTPIn{QRImageBase64: "data:image/png;base64," + b64}, want: client.Credential{TOTPQR: pngBytes}},
		{name: "none", in: EnrollTOTPIn{}, err: "give exactly one of otpauth_uri, secret, qr_image_path or qr_image_base64 (got 0)"},
		{name: "two", in: EnrollTOTPIn{OTPAuthURI: uri, Secret: "JBSWY3DPEHPK3PXP"}, err: "(got 2: otpauth_uri, secret)"},
		{name: "not a URI", in: EnrollTOTPIn{OTPAuthURI: "https://site.example/2fa"}, err: "otpauth_uri: is not an otpauth:// URI"},
		{name: "missing file", in: EnrollTOTPIn{QRImagePath: filepath.Join(dir, "nope.png")}, err: "qr_image_path: "},
		{name: "directory", in: EnrollTOTPIn{QRImagePath: dir}, err: "qr_image_path: " + `"` + dir + `" is not a regular file`},
		{name: "too big", in: EnrollTOTPIn{QRImagePath: bigFile}, err: "qr_image_path: " + `"` + bigFile + `" is 1048`},
		{name: "text file", in: EnrollTOTPIn{QRImagePath: textFile}, err: "qr_image_path: is not a PNG, JPEG or GIF image (looks like text/plain)"},
		{name: "not base64", in: EnrollTOTPIn{QRImageBase64: "not base64!"}, err: "qr_image_base64: not valid base64"},
		{name: "base64 of text", in: EnrollTOTPIn{QRImageBase64: base64.StdEncoding.EncodeToString([]byte("SECRET-CONTENT"))}, err: "qr_image_base64: is not a PNG"},
		{name: "data URL not base64", in: EnrollTOTPIn{QRImageBase64: "data:image/png,abc"}, err: "qr_image_base64: a data: URL must be base64"},
		{name: "base64 too big", in: EnrollTOTPIn{QRImageBase64: strings.Repeat("A", client.MaxQRImageBytes*4/3+8)}, err: "qr_image_base64: the image is more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.credential()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "SECRET-CONTENT", "an error never shows a file's content")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
