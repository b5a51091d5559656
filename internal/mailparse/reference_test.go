package mailparse

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/mailparse/internal/refanalyse"
)

// The analysis was made faster with hand-written scanners and shared
// per-line facts; refanalyse is a frozen copy of the analysis before that.
// These tests hold the two to identical results.

func checkAgainstReference(t *testing.T, subject, text, htmlBody, listUnsubscribe string) {
	t.Helper()
	got := Analyse(subject, text, htmlBody, listUnsubscribe)
	want := refanalyse.Analyse(subject, text, htmlBody, listUnsubscribe)
	if got.ExtractedText != want.ExtractedText {
		t.Fatalf("extracted text differs for subject %q text %q html %q:\ngot  %q\nwant %q", subject, text, htmlBody, got.ExtractedText, want.ExtractedText)
	}
	if !reflect.DeepEqual(got.Codes, want.Codes) {
		t.Fatalf("codes differ for subject %q text %q html %q:\ngot  %+v\nwant %+v", subject, text, htmlBody, got.Codes, want.Codes)
	}
	if !reflect.DeepEqual(got.Links, want.Links) {
		t.Fatalf("links differ for subject %q text %q html %q:\ngot  %+v\nwant %+v", subject, text, htmlBody, got.Links, want.Links)
	}
	for _, s := range []string{text, htmlBody} {
		if g, w := StripBoilerplate(s), refanalyse.StripBoilerplate(s); g != w {
			t.Fatalf("StripBoilerplate(%q) = %q, want %q", s, g, w)
		}
		if g, w := ExtractCodes(subject, s), refanalyse.ExtractCodes(subject, s); !reflect.DeepEqual(g, w) {
			t.Fatalf("ExtractCodes(%q, %q) = %+v, want %+v", subject, s, g, w)
		}
	}
}

// referenceSeeds are the bodies of the corpus messages.
func referenceSeeds(t testing.TB) [][4]string {
	var seeds [][4]string
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Parse(raw, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, [4]string{msg.Subject, msg.Text, msg.HTML, ""})
	}
	return seeds
}

func TestAnalyseReference(t *testing.T) {
	for _, s := range referenceSeeds(t) {
		checkAgainstReference(t, s[0], s[1], s[2], s[3])
		// Each line of the text on its own, and the text's lines in pairs,
		// reach the line rules in many more positions.
		lines := strings.Split(s[1], "\n")
		for i := range lines {
			checkAgainstReference(t, s[0], lines[i], "", "")
			if i > 0 {
				checkAgainstReference(t, "Fwd: x", lines[i-1]+"\n"+lines[i], "", "")
			}
		}
	}
}

func FuzzAnalyseReference(f *testing.F) {
	for _, s := range referenceSeeds(f) {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Add("Your code", "On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:\n> 123456", "", "<https://x.io/unsub>")
	f.Add("Fwd: x", "-----Original Message-----\nFrom: a\nSent: b\nSubject: c\n\nCode: AB12-CD34", "", "")
	f.Fuzz(func(t *testing.T, subject, text, htmlBody, listUnsubscribe string) {
		checkAgainstReference(t, subject, text, htmlBody, listUnsubscribe)
	})
}

func FuzzNormalizeText(f *testing.F) {
	for _, s := range []string{"", "a\r\n\r\n\r\nb", "\r\r\n x \t y\x00z\u200b \u00a0\u2028 ", "\xff a  b\n\n", "\u0085x\n \n\ny "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := normalizeText(s), normalizeTextSlow(s); got != want {
			t.Fatalf("normalizeText(%q) = %q, want %q", s, got, want)
		}
	})
}
