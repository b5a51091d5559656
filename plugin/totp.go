package plugin

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpSecret is a credential's TOTP seed and parameters. It lives only
// inside the encrypted credential record and is never returned.
type totpSecret struct {
	// Seed is the base32 seed, upper case, without padding.
	Seed string `json:"seed"`
	// Algorithm is SHA1, SHA256 or SHA512.
	Algorithm string `json:"algorithm"`
	// Digits is 6 or 8.
	Digits int `json:"digits"`
	// Period is the time step in seconds.
	Period int `json:"period"`
	// Issuer and Account come from an otpauth:// URI, if one was given.
	Issuer  string `json:"issuer,omitempty"`
	Account string `json:"account,omitempty"`
}

const (
	defaultTOTPAlgorithm = "SHA1"
	defaultTOTPDigits    = 6
	defaultTOTPPeriod    = 30
	maxTOTPPeriod        = 300
	minSeedBytes         = 10 // 80 bits: the shortest seed real services issue
	maxSeedBytes         = 128
)

// normalizeSeed accepts base32 in any case, with spaces or padding, and
// returns it upper case without either.
func normalizeSeed(s string) (string, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	s = strings.TrimRight(s, "=")
	if s == "" {
		return "", fmt.Errorf("must not be empty")
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("is not valid base32 (letters A-Z and digits 2-7)")
	}
	if len(raw) < minSeedBytes {
		return "", fmt.Errorf("is %d bytes; a TOTP seed needs at least %d", len(raw), minSeedBytes)
	}
	if len(raw) > maxSeedBytes {
		return "", fmt.Errorf("is %d bytes; at most %d allowed", len(raw), maxSeedBytes)
	}
	return s, nil
}

func normalizeAlgorithm(a string) (string, error) {
	switch strings.ToUpper(strings.ReplaceAll(a, "-", "")) {
	case "SHA1":
		return "SHA1", nil
	case "SHA256":
		return "SHA256", nil
	case "SHA512":
		return "SHA512", nil
	}
	return "", fmt.Errorf("%q is not SHA1, SHA256 or SHA512", a)
}

func checkDigits(n int) error {
	if n != 6 && n != 8 {
		return fmt.Errorf("must be 6 or 8, got %d", n)
	}
	return nil
}

func checkPeriod(n int) error {
	if n < 1 || n > maxTOTPPeriod {
		return fmt.Errorf("must be between 1 and %d seconds, got %d", maxTOTPPeriod, n)
	}
	return nil
}

// parseTOTPURI reads an otpauth://totp/ URI. The error names the part that
// is wrong but never echoes the URI: it holds the seed.
func parseTOTPURI(raw string) (*totpSecret, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "otpauth" {
		return nil, fmt.Errorf("is not an otpauth:// URI")
	}
	if u.Host != "totp" {
		return nil, fmt.Errorf("must be an otpauth://totp/ URI (HOTP counters are not supported)")
	}
	key, err := otp.NewKeyFromURL(raw)
	if err != nil {
		return nil, fmt.Errorf("is not a valid otpauth URI")
	}
	q := u.Query()
	t := &totpSecret{Algorithm: defaultTOTPAlgorithm, Digits: defaultTOTPDigits, Period: defaultTOTPPeriod,
		Issuer: key.Issuer(), Account: key.AccountName()}
	if t.Seed, err = normalizeSeed(q.Get("secret")); err != nil {
		return nil, fmt.Errorf("secret parameter %v", err)
	}
	if v := q.Get("algorithm"); v != "" {
		if t.Algorithm, err = normalizeAlgorithm(v); err != nil {
			return nil, fmt.Errorf("algorithm parameter: %v", err)
		}
	}
	if v := q.Get("digits"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || checkDigits(n) != nil {
			return nil, fmt.Errorf("digits parameter must be 6 or 8")
		}
		t.Digits = n
	}
	if v := q.Get("period"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || checkPeriod(n) != nil {
			return nil, fmt.Errorf("period parameter must be between 1 and %d", maxTOTPPeriod)
		}
		t.Period = n
	}
	return t, nil
}

// totpCode is one generated code and its validity window.
type totpCode struct {
	Code             string
	Step             int64
	SecondsRemaining int
	ValidUntil       time.Time
}

// generate computes the RFC 6238 code for time now.
func (t *totpSecret) generate(now time.Time) (totpCode, error) {
	alg := map[string]otp.Algorithm{"SHA1": otp.AlgorithmSHA1, "SHA256": otp.AlgorithmSHA256, "SHA512": otp.AlgorithmSHA512}[t.Algorithm]
	code, err := totp.GenerateCodeCustom(t.Seed, now, totp.ValidateOpts{
		Period:    uint(t.Period),
		Digits:    otp.Digits(t.Digits),
		Algorithm: alg,
	})
	if err != nil {
		// The seed was validated on write; never include it in the error.
		return totpCode{}, fmt.Errorf("generate TOTP code: stored seed is unusable")
	}
	step := now.Unix() / int64(t.Period)
	until := time.Unix((step+1)*int64(t.Period), 0).UTC()
	// Whole seconds left, rounded down: a client never thinks it has more time than it has.
	return totpCode{Code: code, Step: step, SecondsRemaining: int(until.Sub(now) / time.Second), ValidUntil: until}, nil
}
