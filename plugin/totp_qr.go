package plugin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // a QR image may be a GIF
	_ "image/jpeg" // or a JPEG (a photo or screenshot)
	_ "image/png"  // or a PNG
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// totp_qr: a TOTP enrolment QR code as an image, decoded here and then
// read exactly like totp_uri (parseTOTPURI).
//
// The decoder is github.com/makiuchi-d/gozxing: a pure-Go port of ZXing's
// QR reader (the decoder most phones and libraries descend from), so the
// plugin stays one static binary with no cgo (zbar) and copes with
// rotated, scaled, noisy and logo-covered codes through ZXing's detector
// and Reed-Solomon correction.

const (
	// maxQRImageBytes bounds the decoded image file.
	maxQRImageBytes = 1 << 20
	// maxQRImagePixels bounds width × height before any pixel is decoded:
	// a small file may declare a huge canvas (a decompression bomb). 16 Mpx
	// admits a 12 Mpx phone photo.
	maxQRImagePixels = 16 << 20
)

// errNoQR is a picture in which no QR code was found.
var errNoQR = errors.New("no QR code was found in the image")

// decodeTOTPQR reads a base64 image (optionally a data: URL) holding an
// otpauth://totp/ QR code. No error echoes what the code holds: the seed.
func decodeTOTPQR(b64 string) (*totpSecret, error) {
	data, err := decodeQRBase64(b64)
	if err != nil {
		return nil, err
	}
	text, err := readQRImage(data)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(text)), "otpauth://") {
		return nil, fmt.Errorf("the QR code does not hold an otpauth:// URI")
	}
	t, err := parseTOTPURI(text)
	if err != nil {
		return nil, fmt.Errorf("the QR code's URI %v", err)
	}
	return t, nil
}

// decodeQRBase64 decodes standard base64, padded or not, with line breaks
// allowed, after an optional data:image/…;base64, prefix; it refuses more
// than maxQRImageBytes before decoding them.
func decodeQRBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		_, payload, found := strings.Cut(rest, ";base64,")
		if !found {
			return nil, fmt.Errorf("is a data: URL that is not base64")
		}
		s = payload
	}
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	if base64.RawStdEncoding.DecodedLen(len(strings.TrimRight(s, "="))) > maxQRImageBytes {
		return nil, fmt.Errorf("the image is over %d bytes (1 MiB)", maxQRImageBytes)
	}
	data, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("is not valid base64")
	}
	return data, nil
}

// readQRImage decodes a PNG, JPEG or GIF (its first frame) and returns the
// text of the QR code in it.
func readQRImage(data []byte) (string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return "", fmt.Errorf("is not a PNG, JPEG or GIF image")
		}
		return "", fmt.Errorf("the image is truncated or corrupt")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxQRImagePixels {
		return "", fmt.Errorf("the image is %d×%d pixels; at most %d pixels in all", cfg.Width, cfg.Height, maxQRImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("the %s image is truncated or corrupt", strings.ToUpper(format))
	}
	text, err := scanQR(img)
	if err != nil {
		return "", err
	}
	return text, nil
}

// scanQR finds and decodes a QR code: as drawn, then with light and dark
// swapped (the light-on-dark codes of dark themes).
func scanQR(img image.Image) (text string, err error) {
	// A port of a large Java library: a panic on a crafted image must end
	// this request with a 400, not the plugin process with every mount.
	defer func() {
		if r := recover(); r != nil {
			text, err = "", errNoQR
		}
	}()
	src := gozxing.NewLuminanceSourceFromImage(img)
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	for _, s := range []gozxing.LuminanceSource{src, src.Invert()} {
		bmp, berr := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(s))
		if berr != nil {
			continue
		}
		res, derr := qrcode.NewQRCodeReader().Decode(bmp, hints)
		if derr == nil {
			return res.GetText(), nil
		}
	}
	return "", errNoQR
}
