package mailparse

import (
	"strings"
	"testing"
)

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"7 3 9 1 4 2": "739142",
		"739-142":     "739142",
		"739 142":     "739142",
		"739–142":     "739142",
		"K7Q-2MX":     "K7Q2MX",
		"ABC123":      "ABC123",
	} {
		if got := NormalizeCode(in); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtractCodes(t *testing.T) {
	cases := []struct {
		subject, text string
		want          string // "" for no code
	}{
		{"", "Your verification code:\n7 3 9 1 4 2", "739142"},
		{"", "Your code is 739-142.", "739142"},
		{"", "Your code is 739 142.", "739142"},
		{"", "Enter 73 91 42 to continue", "739142"},
		{"", "Temporary login code: K7Q-2MX", "K7Q2MX"},
		{"", "Your one-time code: ABC123", "ABC123"},
		{"", "Your PIN is 4821.", "4821"},
		{"", "Verification code\n\n48207913", "48207913"},
		{"739142 is your Acme code", "Do not share it.", "739142"},
		{"", "Call us at 555-0199 or +1 (415) 555-0132.", ""},
		{"", "Order #104382 shipped on March 11, 2025. Total $1,299.00.", ""},
		{"", "Your order 48213 is confirmed. Ship to 742 Evergreen Terrace, Springfield, OR 97403.", ""},
		{"", "Save 30% — use promo code SAVE2025 before 2025-05-04.", ""},
		{"", "Meeting ID: 845 2291 0034", ""},
		{"", "The colour is #A1B2C3 and the year is 2024.", ""},
		{"", "Tracking number 1Z999AA10123456784, postcode 10117 Berlin", ""},
		{"", "Visit https://example.com/verify?code=123456 to continue", ""},
		{"", "Order 12345: your verification code is 998877", "998877"},
		{"", "Your code: 123456 (the old code 654321 has expired)", "123456"},
		{"", "Upgrade to 2048 MB of storage for 12 months", ""},
		{"", "SHA256 and UTF8 and ISO8859 are not codes", ""},
	}
	for _, c := range cases {
		codes := ExtractCodes(c.subject, c.text)
		got := ""
		if len(codes) > 0 {
			got = codes[0].Code
		}
		if got != c.want {
			t.Errorf("ExtractCodes(%q, %q) = %+v, want %q first", c.subject, c.text, codes, c.want)
		}
		for _, code := range codes {
			if code.Code == "" || strings.ContainsAny(code.Code, " -") || code.Context == "" {
				t.Errorf("bad code %+v", code)
			}
		}
	}
}

func TestQuotedCodeRanksBelow(t *testing.T) {
	html := `<div>Use this one: 258193</div><div class="gmail_quote">On Thu, Mar 20, 2025 at 4:15 PM Bot &lt;b@x.example&gt; wrote:<blockquote>Your verification code is 664420</blockquote></div>`
	a := Analyse("Re: code", "", html, "", "")
	if len(a.Codes) == 0 || a.Codes[0].Code != "258193" {
		t.Errorf("codes %+v", a.Codes)
	}
}
