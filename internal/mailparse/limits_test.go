package mailparse

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// multipartN builds a multipart/mixed message with n text parts.
func multipartN(n int) []byte {
	var b strings.Builder
	b.WriteString("From: a@b.example\nSubject: many\nContent-Type: multipart/mixed; boundary=\"BB\"\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--BB\nContent-Type: text/plain\n\npart %d\n", i)
	}
	b.WriteString("--BB--\n")
	return []byte(b.String())
}

// nested builds depth levels of multipart/mixed around one text part.
func nested(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: a@b.example\nSubject: deep\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"L%d\"\n\n--L%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\nYour code is 123456\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--L%d--\n", i)
	}
	return []byte(b.String())
}

func wantLimit(t *testing.T, err error, limit string) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LimitError", err)
	}
	if le.Limit != limit {
		t.Fatalf("limit %q, want %q (%v)", le.Limit, limit, le)
	}
	if !strings.Contains(le.Error(), limit) && !strings.Contains(le.Error(), map[string]string{
		LimitParts: "parts", LimitDepth: "nested", LimitHeader: "header"}[limit]) {
		t.Errorf("message %q does not say which limit", le.Error())
	}
	code, enh := le.SMTPStatus()
	if code != 552 && code != 554 || enh == "" {
		t.Errorf("SMTPStatus = %d %q", code, enh)
	}
}

func TestLimitParts(t *testing.T) {
	if _, err := Parse(multipartN(150), DefaultLimits()); err != nil {
		t.Fatalf("150 parts: %v", err)
	}
	_, err := Parse(multipartN(250), DefaultLimits())
	wantLimit(t, err, LimitParts)
	_, _, err = AttachmentContent(multipartN(250), DefaultLimits(), 0)
	wantLimit(t, err, LimitParts)
	// A custom limit.
	_, err = Parse(multipartN(5), Limits{MaxParts: 3})
	wantLimit(t, err, LimitParts)
}

func TestLimitDepth(t *testing.T) {
	msg, err := Parse(nested(10), DefaultLimits())
	if err != nil {
		t.Fatalf("depth 10: %v", err)
	}
	if len(msg.Codes) == 0 || msg.Codes[0].Code != "123456" {
		t.Errorf("depth 10 codes %+v", msg.Codes)
	}
	_, err = Parse(nested(12), DefaultLimits())
	wantLimit(t, err, LimitDepth)
	_, err = Parse(nested(4), Limits{MaxDepth: 3})
	wantLimit(t, err, LimitDepth)
}

func TestLimitHeader(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\n")
	for b.Len() < 300<<10 {
		b.WriteString("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
	}
	b.WriteString("Subject: big\n\nbody\n")
	_, err := Parse([]byte(b.String()), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// No empty line at all: the whole input is header.
	_, err = Parse([]byte(strings.Repeat("X-Filler: aaaa\n", 30000)), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// A single Content-Type field folded over a huge number of lines.
	huge := "From: a@b.example\nSubject: s\n\nbody\n--x\nContent-Type: multipart/mixed;\n" + strings.Repeat(" a=b;\n", 60000) + "\nz\n"
	_, err = Parse([]byte(huge), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// Under the limit is fine.
	if _, err := Parse([]byte(b.String()), Limits{MaxHeaderBytes: 1 << 20}); err != nil {
		t.Errorf("1 MiB header limit: %v", err)
	}
}

// Pathological inputs must be refused quickly, before enmime builds them.
func TestLimitPathological(t *testing.T) {
	cases := map[string][]byte{
		// 100 000 nested multiparts.
		"deep": nested(100000),
		// 200 000 empty parts of a one-letter boundary.
		"wide": []byte("Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\n", 200000)),
		// The same boundary declared over and over.
		"redeclared": []byte("Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\nContent-Type: multipart/mixed; boundary=b\n\n", 50000)),
	}
	for name, raw := range cases {
		start := time.Now()
		_, err := Parse(raw, DefaultLimits())
		var le *LimitError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v, want a *LimitError", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
}
