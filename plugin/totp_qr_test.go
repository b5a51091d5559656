package plugin

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	qrgen "github.com/skip2/go-qrcode"
	"github.com/stretchr/testify/require"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/math/f64"

	"github.com/mailgent/mailgent/internal/rfc6238"
)

// The QR corpus in testdata/qr/ is made by makeQRCorpus below: run
//
//	MAILGENT_QR_CORPUS=write go test ./plugin/ -run TestQRCorpusIsReproducible
//
// to write it again. TestQRCorpusIsReproducible checks that the committed
// files are what the generator makes, so the table's expectations and the
// images cannot drift apart. Each image's URI is in qrCorpusURIs.

// qrCorpusDir is the committed corpus; the SDK and integration tests use
// its images too.
const qrCorpusDir = "testdata/qr"

// qrSeed is a corpus URI's seed: 20 bytes spelling the file's number, so
// each image decodes to a seed of its own.
func qrSeed(n int) string {
	return base32.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune('a'+n)), 20)))
}

// qrCorpusURIs is what each QR image of the corpus holds.
var qrCorpusURIs = map[string]string{
	"png-l-200.png":       "otpauth://totp/Example:bot@agents.example.com?secret=" + qrSeed(0) + "&issuer=Example",
	"png-m-120.png":       "otpauth://totp/Small:bot?secret=" + qrSeed(1) + "&issuer=Small",
	"png-q-600.png":       "otpauth://totp/Big%20Corp:bot%40agents.example.com?secret=" + qrSeed(2) + "&issuer=Big%20Corp&algorithm=SHA256&digits=8&period=60",
	"png-h-logo.png":      "otpauth://totp/GitHub:bot-agent?secret=" + qrSeed(3) + "&issuer=GitHub",
	"photo-rotated.jpg":   "otpauth://totp/AWS:bot@agents.example.com?secret=" + qrSeed(4) + "&issuer=AWS",
	"gif-m-256.gif":       "otpauth://totp/Gifs:bot?secret=" + qrSeed(5) + "&issuer=Gifs&algorithm=SHA512",
	"png-dark-theme.png":  "otpauth://totp/Dark:bot?secret=" + qrSeed(6) + "&issuer=Dark",
	"png-transparent.png": "otpauth://totp/Clear:bot?secret=" + qrSeed(7) + "&issuer=Clear",
	"qr-https-url.png":    "https://example.com/2fa/setup",
	"qr-hotp-uri.png":     "otpauth://hotp/Counter:bot?secret=" + qrSeed(8) + "&counter=3",
	"qr-bad-seed-uri.png": "otpauth://totp/Short:bot?secret=JBSWY3DP",
}

// qrCorpusCase is one file of the corpus and what reading it gives.
type qrCorpusCase struct {
	file string
	// uri is the otpauth URI it yields; else err is part of the 400.
	uri, err string
}

var qrCorpusCases = []qrCorpusCase{
	{file: "png-l-200.png", uri: qrCorpusURIs["png-l-200.png"]},
	{file: "png-m-120.png", uri: qrCorpusURIs["png-m-120.png"]},
	{file: "png-q-600.png", uri: qrCorpusURIs["png-q-600.png"]},
	{file: "png-h-logo.png", uri: qrCorpusURIs["png-h-logo.png"]},
	{file: "photo-rotated.jpg", uri: qrCorpusURIs["photo-rotated.jpg"]},
	{file: "gif-m-256.gif", uri: qrCorpusURIs["gif-m-256.gif"]},
	{file: "png-dark-theme.png", uri: qrCorpusURIs["png-dark-theme.png"]},
	{file: "png-transparent.png", uri: qrCorpusURIs["png-transparent.png"]},
	{file: "qr-https-url.png", err: "does not hold an otpauth:// URI"},
	{file: "qr-hotp-uri.png", err: "HOTP counters are not supported"},
	{file: "qr-bad-seed-uri.png", err: "secret parameter is 5 bytes"},
	{file: "not-qr-gradient.png", err: "no QR code was found"},
	{file: "not-qr-noise.jpg", err: "no QR code was found"},
	{file: "truncated.png", err: "truncated or corrupt"},
	{file: "truncated.jpg", err: "truncated or corrupt"},
	{file: "huge-canvas.png", err: "at most 16777216 pixels"},
	{file: "not-an-image.pdf", err: "is not a PNG, JPEG or GIF image"},
}

// TestQRCorpusDecodes reads each file of the corpus as totp_qr does.
func TestQRCorpusDecodes(t *testing.T) {
	for _, tc := range qrCorpusCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(qrCorpusDir, tc.file))
			require.NoError(t, err)
			got, err := decodeTOTPQR(base64.StdEncoding.EncodeToString(data))
			if tc.err != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.err)
				requireNoSeedText(t, err.Error())
				return
			}
			require.NoError(t, err)
			want, err := parseTOTPURI(tc.uri)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// requireNoSeedText checks an error against every seed of the corpus.
func requireNoSeedText(t *testing.T, msg string) {
	t.Helper()
	for n := range 10 {
		require.NotContains(t, msg, qrSeed(n)[:16])
	}
	require.NotContains(t, msg, "JBSWY3DP")
}

// TestQRBase64Input covers what reaches decodeTOTPQR before any image.
func TestQRBase64Input(t *testing.T) {
	png200, err := os.ReadFile(filepath.Join(qrCorpusDir, "png-l-200.png"))
	require.NoError(t, err)
	std := base64.StdEncoding.EncodeToString(png200)
	var wrapped strings.Builder
	for i := 0; i < len(std); i += 76 {
		wrapped.WriteString(std[i:min(i+76, len(std))] + "\n")
	}
	oversized := append(append([]byte{}, png200...), make([]byte, maxQRImageBytes)...)
	cases := []struct {
		name, in, err string
	}{
		{"standard", std, ""},
		{"unpadded", strings.TrimRight(std, "="), ""},
		{"line-wrapped", wrapped.String(), ""},
		{"data URL", "data:image/png;base64," + std, ""},
		{"empty", "  ", "must not be empty"},
		{"not base64", "not*base64!", "is not valid base64"},
		{"url-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(std) + "-_", "is not valid base64"},
		{"data URL without base64", "data:image/png," + std, "data: URL that is not base64"},
		{"over 1 MiB", base64.StdEncoding.EncodeToString(oversized), "over 1048576 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTOTPQR(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, qrSeed(0), got.Seed+strings.Repeat("=", len(qrSeed(0))-len(got.Seed)))
		})
	}
}

// TestQRCorpusIsReproducible makes the corpus again and compares it with
// the committed files: PNG and GIF pixel for pixel, a JPEG by size (its
// bytes depend on the encoder). MAILGENT_QR_CORPUS=write rewrites them.
func TestQRCorpusIsReproducible(t *testing.T) {
	files := makeQRCorpus(t)
	if os.Getenv("MAILGENT_QR_CORPUS") == "write" {
		for name, data := range files {
			require.NoError(t, os.WriteFile(filepath.Join(qrCorpusDir, name), data, 0o644))
		}
	}
	for _, tc := range qrCorpusCases {
		require.Contains(t, files, tc.file, "the generator makes every file of the table")
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			committed, err := os.ReadFile(filepath.Join(qrCorpusDir, name))
			require.NoError(t, err, "run MAILGENT_QR_CORPUS=write go test ./plugin/ -run TestQRCorpusIsReproducible")
			if bytes.Equal(committed, data) {
				return
			}
			want, _, werr := image.Decode(bytes.NewReader(data))
			got, _, gerr := image.Decode(bytes.NewReader(committed))
			require.NoError(t, werr)
			require.NoError(t, gerr)
			require.Equal(t, want.Bounds(), got.Bounds())
			if strings.HasSuffix(name, ".jpg") {
				return
			}
			for y := want.Bounds().Min.Y; y < want.Bounds().Max.Y; y++ {
				for x := want.Bounds().Min.X; x < want.Bounds().Max.X; x++ {
					wr, wg, wb, wa := want.At(x, y).RGBA()
					gr, gg, gb, ga := got.At(x, y).RGBA()
					require.Equal(t, [4]uint32{wr, wg, wb, wa}, [4]uint32{gr, gg, gb, ga}, "pixel %d,%d", x, y)
				}
			}
		})
	}
}

// makeQRCorpus returns every file of the corpus by name.
func makeQRCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	code := func(name string, level qrgen.RecoveryLevel, size int) image.Image {
		q, err := qrgen.New(qrCorpusURIs[name], level)
		require.NoError(t, err)
		return q.Image(size)
	}
	put := func(name string, img image.Image) { files[name] = encodeImage(t, name, img) }

	put("png-l-200.png", code("png-l-200.png", qrgen.Low, 200))
	put("png-m-120.png", code("png-m-120.png", qrgen.Medium, 120))
	put("png-q-600.png", code("png-q-600.png", qrgen.High, 600))
	put("png-h-logo.png", withLogo(code("png-h-logo.png", qrgen.Highest, 400)))
	put("photo-rotated.jpg", photoLike(code("photo-rotated.jpg", qrgen.Medium, 300)))
	put("gif-m-256.gif", code("gif-m-256.gif", qrgen.Medium, 256))
	put("png-dark-theme.png", inverted(code("png-dark-theme.png", qrgen.Medium, 256)))
	put("png-transparent.png", transparentBackground(code("png-transparent.png", qrgen.Medium, 256)))
	for _, name := range []string{"qr-https-url.png", "qr-hotp-uri.png", "qr-bad-seed-uri.png"} {
		put(name, code(name, qrgen.Medium, 256))
	}
	put("not-qr-gradient.png", gradient(320, 240))
	put("not-qr-noise.jpg", noise(320, 240))
	files["truncated.png"] = files["png-l-200.png"][:len(files["png-l-200.png"])/2]
	files["truncated.jpg"] = files["photo-rotated.jpg"][:len(files["photo-rotated.jpg"])*2/3]
	files["huge-canvas.png"] = hugeCanvasPNG(t, 20000, 20000)
	files["not-an-image.pdf"] = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	return files
}

func encodeImage(t *testing.T, name string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch filepath.Ext(name) {
	case ".png":
		err = png.Encode(&buf, img)
	case ".jpg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 72})
	case ".gif":
		err = gif.Encode(&buf, img, &gif.Options{NumColors: 4})
	}
	require.NoError(t, err)
	return buf.Bytes()
}

// withLogo pastes a square "logo" (a coloured block with a ring) over the
// middle 28% of the code, as sites brand theirs; level H recovers it.
func withLogo(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewRGBA(b)
	xdraw.Draw(dst, b, src, b.Min, xdraw.Src)
	side := b.Dx() * 28 / 100
	x0, y0 := b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2
	for y := y0; y < y0+side; y++ {
		for x := x0; x < x0+side; x++ {
			dx, dy := float64(x-x0-side/2), float64(y-y0-side/2)
			c := color.RGBA{0x24, 0x29, 0x2e, 0xff}
			if r := math.Hypot(dx, dy); r > float64(side)/5 && r < float64(side)/3 {
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			dst.Set(x, y, c)
		}
	}
	return dst
}

// photoLike makes a code look photographed: on an unevenly lit grey card,
// scaled, rotated 4°, blurred and grainy.
func photoLike(src image.Image) image.Image {
	const w, h = 480, 400
	card := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(170 + 50*x/w + 20*y/h) // light falling from one side
			card.Set(x, y, color.RGBA{v, v, v - 8, 0xff})
		}
	}
	// Scale 300 px to 250 px, rotate 4° about the card's centre.
	s, th := 250.0/300.0, 4*math.Pi/180
	cos, sin := s*math.Cos(th), s*math.Sin(th)
	cx, cy, sx, sy := w/2.0, h/2.0, 150.0, 150.0
	m := f64.Aff3{cos, -sin, cx - cos*sx + sin*sy, sin, cos, cy - sin*sx - cos*sy}
	xdraw.BiLinear.Transform(card, m, src, src.Bounds(), xdraw.Over, nil)
	rng := rand.New(rand.NewPCG(4, 2))
	out := image.NewRGBA(card.Bounds())
	for y := range h {
		for x := range w {
			var sum [3]int
			n := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if c, ok := rgbaAt(card, x+dx, y+dy); ok {
						sum[0], sum[1], sum[2], n = sum[0]+int(c.R), sum[1]+int(c.G), sum[2]+int(c.B), n+1
					}
				}
			}
			grain := rng.IntN(25) - 12
			px := func(v int) uint8 { return uint8(max(0, min(255, v/n+grain))) }
			out.Set(x, y, color.RGBA{px(sum[0]), px(sum[1]), px(sum[2]), 0xff})
		}
	}
	return out
}

func rgbaAt(img *image.RGBA, x, y int) (color.RGBA, bool) {
	if !(image.Point{x, y}.In(img.Bounds())) {
		return color.RGBA{}, false
	}
	return img.RGBAAt(x, y), true
}

// inverted draws the code light on dark, as dark themes show it.
func inverted(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g := color.GrayModel.Convert(src.At(x, y)).(color.Gray)
			dst.SetGray(x, y, color.Gray{Y: 255 - g.Y})
		}
	}
	return dst
}

// transparentBackground keeps the dark modules and makes the rest clear.
func transparentBackground(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.GrayModel.Convert(src.At(x, y)).(color.Gray).Y < 128 {
				dst.Set(x, y, color.NRGBA{0x10, 0x20, 0x40, 0xff})
			}
		}
	}
	return dst
}

func gradient(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 0xff})
		}
	}
	return img
}

func noise(w, h int) image.Image {
	rng := rand.New(rand.NewPCG(7, 7))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	return img
}

// hugeCanvasPNG is a tiny PNG whose header declares w×h pixels: what a
// decompression bomb looks like before its pixels are read.
func hugeCanvasPNG(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))))
	b := buf.Bytes()
	// Signature (8), IHDR length (4), "IHDR" (4), width, height, …, CRC.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// qrImage is a corpus file in base64, as a client sends totp_qr.
func qrImage(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(qrCorpusDir, file))
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(data)
}

// A credential enrolled from a QR image gives the codes of the seed in it,
// with the URI's parameters; the seed is nowhere in a response or storage.
func TestCredentialTOTPFromQR(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/big", map[string]interface{}{"totp_qr": qrImage(t, "png-q-600.png"), "password": "pw"})
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/big", nil)
	require.Equal(t, map[string]interface{}{"enabled": true, "algorithm": "SHA256", "digits": 8, "period": 60, "issuer": "Big Corp", "account": "bot@agents.example.com"}, resp.Data["totp"])
	requireNoSeed(t, resp.Data, qrSeed(2))

	at := time.Unix(1_800_000_000, 0)
	tb.now = func() time.Time { return at }
	resp = tb.ok(t, logical.ReadOperation, "agents/bot/creds/big/totp", nil)
	seed, err := base32.StdEncoding.DecodeString(qrSeed(2))
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(seed, "SHA256", 8, 60, at), resp.Data["code"])
	for k, v := range snapshot(t, tb.storage) {
		require.NotContains(t, strings.ToUpper(v), strings.TrimRight(qrSeed(2), "="), "storage entry %s", k)
	}
}

// Every bad totp_qr is a 400 naming the field, and changes nothing.
func TestCredentialBadTOTPQRChangesNothing(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "keep-me", "totp_secret": rfcSeed})
	before := snapshot(t, tb.storage)
	good := qrImage(t, "png-l-200.png")
	cases := []struct {
		name string
		data map[string]interface{}
		err  string
	}{
		{"with totp_uri", map[string]interface{}{"totp_qr": good, "totp_uri": "otpauth://totp/x?secret=" + rfcSeed}, "totp_qr: give only one"},
		{"with totp_secret", map[string]interface{}{"totp_qr": good, "totp_secret": rfcSeed}, "totp_qr: give only one"},
		{"with parameters", map[string]interface{}{"totp_qr": good, "totp_digits": 8}, "totp_qr: carries its own"},
		{"not a string", map[string]interface{}{"totp_qr": 42}, "totp_qr: must be a string"},
		{"bad base64", map[string]interface{}{"totp_qr": "%%%"}, "totp_qr: is not valid base64"},
		{"over 1 MiB", map[string]interface{}{"totp_qr": base64.StdEncoding.EncodeToString(make([]byte, maxQRImageBytes+1))}, "totp_qr: the image is over"},
	}
	for _, c := range qrCorpusCases {
		if c.err != "" {
			cases = append(cases, struct {
				name string
				data map[string]interface{}
				err  string
			}{c.file, map[string]interface{}{"totp_qr": qrImage(t, c.file)}, c.err})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.UpdateOperation, "agents/bot/creds/site", tc.data)
			status, msg := vaultStatus(logical.UpdateOperation, resp, err)
			require.Equal(t, http.StatusBadRequest, status, msg)
			require.True(t, strings.HasPrefix(msg, "totp_qr: "), msg)
			require.Contains(t, msg, tc.err)
			requireNoSeedText(t, msg)
			require.Equal(t, before, snapshot(t, tb.storage), "storage changed")
		})
	}
}
