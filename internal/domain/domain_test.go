package domain

import "testing"

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GitHub.com", "github.com"},
		{" mail.GitHub.COM. ", "mail.github.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"gіthub.com", "xn--gthub-n2e.com"}, // Cyrillic і: a look-alike shows as punycode
		{"", ""},
		{"a..b", ""},
		{"exa mple.com", ""},
		{"evil<x>.com", ""},
	} {
		got, err := Normalize(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestOfAddressOrgAlignedUnder(t *testing.T) {
	if got := OfAddress("NoReply@Mail.GitHub.com"); got != "mail.github.com" {
		t.Errorf("OfAddress = %q", got)
	}
	if got := OfAddress("no-at-sign"); got != "" {
		t.Errorf("OfAddress without @ = %q", got)
	}
	for _, tc := range []struct {
		a, b           string
		aligned, under bool
	}{
		{"mail.github.com", "github.com", true, true},
		{"github.com", "github.com", true, true},
		{"github.com.evil.example", "github.com", false, false},
		{"evilgithub.com", "github.com", false, false},
		{"a.example.co.uk", "b.example.co.uk", true, false},
		{"example.co.uk", "other.co.uk", false, false},
		{"", "github.com", false, false},
	} {
		if got := Aligned(tc.a, tc.b); got != tc.aligned {
			t.Errorf("Aligned(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := Under(tc.a, tc.b); got != tc.under {
			t.Errorf("Under(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
	if got := Org("a.b.example.co.uk"); got != "example.co.uk" {
		t.Errorf("Org = %q", got)
	}
}
