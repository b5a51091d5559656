package mcpserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mailgent/mailgent/client"
)

func (h *handlers) addTOTPTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "totp_code", Title: "Current TOTP code",
		Description: "Generate a TOTP (2FA) code of a stored credential, with the seconds it stays valid and when it expires " +
			"(valid_until, RFC 3339). Set fresh=true when logging in: sites refuse a code that was already used, so fresh " +
			"returns a code of a later time step than any code handed out before for this credential (right after " +
			"enroll_totp, say), waiting up to one period (30 s) for it. Set min_remaining (seconds) to wait for the next code " +
			"when the current one expires sooner, e.g. 5 when you still need time to type it.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, h.totpCode)
	mcp.AddTool(s, &mcp.Tool{Name: "enroll_totp", Title: "Enrol TOTP (2FA) for a credential",
		Description: "Store the TOTP seed a site shows when you enable two-factor authentication, from exactly one of: " +
			"otpauth_uri (the otpauth://totp/… link behind the QR code), secret (the base32 key shown for manual entry; " +
			"default SHA1, 6 digits, 30 s), qr_image_path (a PNG, JPEG or GIF file of the QR code, e.g. a saved screenshot " +
			"or the page's image) or qr_image_base64 (the same image as base64, a data: URL is fine; at most 1 MiB). The seed " +
			"goes into the vault and is never shown again, by this or any tool. Returns the first code with seconds_remaining " +
			"and valid_until: type it into the site to confirm the enrolment. For the next login use totp_code with fresh=true."}, h.enrollTOTP)
}

// TOTPCodeIn asks for a code of a credential.
type TOTPCodeIn struct {
	Name         string `json:"name" jsonschema:"the credential's name"`
	Fresh        bool   `json:"fresh,omitempty" jsonschema:"a code of a later time step than any handed out before (for a login right after another code); may wait up to one period"`
	MinRemaining int    `json:"min_remaining,omitempty" jsonschema:"seconds the code must stay valid; waits for the next code if fewer are left"`
}

// TOTPCodeOut is a code and how long it stays valid.
type TOTPCodeOut struct {
	Code             string `json:"code"`
	SecondsRemaining int    `json:"seconds_remaining"`
	ValidUntil       string `json:"valid_until" jsonschema:"when the code expires, RFC 3339"`
}

func (h *handlers) totpCode(ctx context.Context, _ *mcp.CallToolRequest, in TOTPCodeIn) (*mcp.CallToolResult, *TOTPCodeOut, error) {
	if err := required("name", in.Name); err != nil {
		return nil, nil, err
	}
	totp := h.c.TOTP
	if in.Fresh {
		totp = h.c.FreshTOTP
	}
	code, err := totp(ctx, in.Name, in.MinRemaining)
	if err != nil {
		return nil, nil, err
	}
	return nil, &TOTPCodeOut{Code: code.Code, SecondsRemaining: code.SecondsRemaining, ValidUntil: code.ValidUntil}, nil
}

// EnrollTOTPIn is a credential's TOTP seed in one of four forms.
type EnrollTOTPIn struct {
	Name          string `json:"name" jsonschema:"the credential's name (an existing one keeps its username and password)"`
	OTPAuthURI    string `json:"otpauth_uri,omitempty" jsonschema:"an otpauth://totp/… URI"`
	Secret        string `json:"secret,omitempty" jsonschema:"the base32 key for manual entry (spaces allowed)"`
	QRImagePath   string `json:"qr_image_path,omitempty" jsonschema:"path of a PNG, JPEG or GIF image of the QR code"`
	QRImageBase64 string `json:"qr_image_base64,omitempty" jsonschema:"a PNG, JPEG or GIF image of the QR code, base64 or a data: URL"`
	MinRemaining  int    `json:"min_remaining,omitempty" jsonschema:"seconds the first code must stay valid; waits for the next code if fewer are left"`
}

// EnrollTOTPOut confirms the enrolment with the first code, never the seed.
type EnrollTOTPOut struct {
	Name             string `json:"name"`
	Version          int    `json:"version" jsonschema:"the credential's new version"`
	Code             string `json:"code" jsonschema:"the first code: enter it on the site to confirm the enrolment"`
	SecondsRemaining int    `json:"seconds_remaining"`
	ValidUntil       string `json:"valid_until" jsonschema:"when the code expires, RFC 3339"`
	Algorithm        string `json:"algorithm"`
	Digits           int    `json:"digits"`
	Period           int    `json:"period"`
}

func (h *handlers) enrollTOTP(ctx context.Context, _ *mcp.CallToolRequest, in EnrollTOTPIn) (*mcp.CallToolResult, *EnrollTOTPOut, error) {
	if err := required("name", in.Name); err != nil {
		return nil, nil, err
	}
	cred, err := in.credential()
	if err != nil {
		return nil, nil, err
	}
	v, err := h.c.StoreCredential(ctx, in.Name, cred, nil)
	if err != nil {
		return nil, nil, err
	}
	code, err := h.c.TOTP(ctx, in.Name, in.MinRemaining)
	if err != nil {
		return nil, nil, fmt.Errorf("the seed is stored (version %d), but its first code failed: %w; call totp_code", v, err)
	}
	return nil, &EnrollTOTPOut{Name: in.Name, Version: v, Code: code.Code, SecondsRemaining: code.SecondsRemaining,
		ValidUntil: code.ValidUntil, Algorithm: code.Algorithm, Digits: code.Digits, Period: code.Period}, nil
}

// credential turns the one seed form given into a credential write, or
// names the fields when none or several are given.
func (in EnrollTOTPIn) credential() (client.Credential, error) {
	var given []string
	for _, f := range []struct{ name, v string }{
		{"otpauth_uri", in.OTPAuthURI}, {"secret", in.Secret}, {"qr_image_path", in.QRImagePath}, {"qr_image_base64", in.QRImageBase64},
	} {
		if f.v != "" {
			given = append(given, f.name)
		}
	}
	if len(given) != 1 {
		return client.Credential{}, fmt.Errorf("give exactly one of otpauth_uri, secret, qr_image_path or qr_image_base64 (got %d%s)",
			len(given), listed(given))
	}
	switch given[0] {
	case "otpauth_uri":
		if !strings.HasPrefix(strings.ToLower(in.OTPAuthURI), "otpauth://") {
			return client.Credential{}, errors.New("otpauth_uri: is not an otpauth:// URI")
		}
		return client.Credential{TOTPURI: in.OTPAuthURI}, nil
	case "secret":
		return client.Credential{TOTPSecret: in.Secret}, nil
	case "qr_image_path":
		img, err := readQRFile(in.QRImagePath)
		return client.Credential{TOTPQR: img}, err
	default:
		img, err := decodeQRBase64(in.QRImageBase64)
		return client.Credential{TOTPQR: img}, err
	}
}

func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}

// readQRFile reads a QR image from a regular file of at most maxQRImage
// bytes. Nothing of a file's content reaches an error or the model.
func readQRFile(path string) ([]byte, error) {
	const field = "qr_image_path"
	fi, err := os.Stat(path)
	if err != nil {
		return nil, pathError(field, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %q is not a regular file", field, path)
	}
	if fi.Size() > client.MaxQRImageBytes {
		return nil, fmt.Errorf("%s: %q is %d bytes, more than the %d an image may have", field, path, fi.Size(), client.MaxQRImageBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, pathError(field, path, err)
	}
	return b, checkImage(field, b)
}

// pathError names the field and the path once (an *fs.PathError would
// repeat the path after the operation).
func pathError(field, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %q: %w", field, path, err)
}

// decodeQRBase64 decodes a base64 image, with or without a data: URL
// prefix, padding or line breaks.
func decodeQRBase64(s string) ([]byte, error) {
	const field = "qr_image_base64"
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "data:") {
		i := strings.Index(s, ",")
		if i < 0 || !strings.HasSuffix(s[:i], ";base64") {
			return nil, fmt.Errorf("%s: a data: URL must be base64 (data:image/png;base64,…)", field)
		}
		s = s[i+1:]
	}
	s = strings.TrimRight(strings.Join(strings.Fields(s), ""), "=")
	if base64.RawStdEncoding.DecodedLen(len(s)) > client.MaxQRImageBytes {
		return nil, fmt.Errorf("%s: the image is more than %d bytes", field, client.MaxQRImageBytes)
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%s: not valid base64", field)
		}
	}
	return b, checkImage(field, b)
}

// checkImage accepts PNG, JPEG and GIF, the formats the plugin decodes.
func checkImage(field string, b []byte) error {
	switch t := http.DetectContentType(b); t {
	case "image/png", "image/jpeg", "image/gif":
		return nil
	default:
		return fmt.Errorf("%s: is not a PNG, JPEG or GIF image (looks like %s)", field, strings.SplitN(t, ";", 2)[0])
	}
}
