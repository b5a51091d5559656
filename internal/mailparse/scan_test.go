package mailparse

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// scanLines are test lines for the scanners: the corpus lines and a few
// made up.
func scanLines(t testing.TB) []string {
	lines := []string{
		"123 Main Street", "Suite 4", "CA 94105", "Hauptstraße 5", "Lindenstrasse 12", "Calle Mayor", "Via Roma",
		"10115 Berlin", "Berlin, 10115 Berlin", "P.O. Box 12", "Floor 3", "5\u212Ag", "\u017Fuite 4", "12b  Oak Lane",
		"Your verification code is 739142.", "Kundennummer 12345", "promo code SAVE20", "Enter the code", "xcodes",
		"your account number ending in 4242", "_ref. 12", "2fa code", "order#1234", "ID·x", "© 2024",
	}
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if l = strings.TrimRight(l, "\r"); len(l) <= 2000 {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

func checkScanners(t *testing.T, l string) {
	t.Helper()
	if got, want := matchAddress(l), addressRe.MatchString(l); got != want {
		t.Fatalf("matchAddress(%q) = %v, addressRe says %v", l, got, want)
	}
	for _, w := range []wordStartRe{strongKwWS, mediumKwWS, negativeKwWS} {
		if got, want := w.findAll(l), w.re.FindAllStringIndex(l, -1); !reflect.DeepEqual(got, want) {
			t.Fatalf("findAll(%q) = %v, %v says %v", l, got, w.re, want)
		}
	}
}

func TestScanners(t *testing.T) {
	if got, want := addressRe.String(), "(?i)"+strings.Join(addressAlts, "|"); got != want {
		t.Fatalf("addressAlts are not the alternatives of addressRe:\n%s\n%s", got, want)
	}
	for _, l := range scanLines(t) {
		checkScanners(t, l)
		checkScanners(t, strings.ToUpper(l))
	}
}

func FuzzScanners(f *testing.F) {
	for _, l := range scanLines(f)[:25] {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, l string) {
		if len(l) > 3000 {
			return
		}
		checkScanners(t, l)
	})
}

func checkPrefilters(t *testing.T, l string) {
	t.Helper()
	for _, c := range []struct {
		name string
		pre  func(string) bool
		re   interface{ MatchString(string) bool }
	}{
		{"signOff", mayBeSignOff, signOffRe},
		{"team", mayBeTeam, teamRe},
		{"originalMsg", mayBeOriginalMsg, originalMsgRe},
		{"outlookFrom", mayBeOutlookFrom, outlookFromRe},
		{"forwardStart", mayBeForwardStart, forwardStartRe},
		{"urlOnly", mayBeURLOnly, urlOnlyRe},
		{"mask", mayNeedMask, maskRe},
	} {
		if c.re.MatchString(l) && !c.pre(l) {
			t.Fatalf("%s prefilter rules out %q", c.name, l)
		}
	}
	if (attributionRe.MatchString(l) || attributionAddrRe.MatchString(l) || attributionTailRe.MatchString(l)) && !mayBeAttribution(l) {
		t.Fatalf("attribution prefilter rules out %q", l)
	}
	if strings.Count(l, ":") < 3 && outlookInlineRe.MatchString(l) {
		t.Fatalf("outlookInlineRe matches %q", l)
	}
	if !hasASCIIDigit(l) && len(findTokens(l)) > 0 {
		t.Fatalf("tokens without a digit in %q", l)
	}
	if !strings.Contains(l, "://") && textURLRe.MatchString(l) {
		t.Fatalf("textURLRe matches %q", l)
	}
	if isASCII(l) {
		old := false
		lower := strings.ToLower(l)
		for _, w := range attributionWords {
			old = old || strings.Contains(lower, w)
		}
		if old != mayBeAttribution(l) {
			t.Fatalf("mayBeAttribution(%q) = %v", l, !old)
		}
	}
}

func TestLinePrefilters(t *testing.T) {
	for _, l := range append(scanLines(t), "Thanks!", "Best regards,", "happy hacking", "The Acme Team", "-- L'équipe Acme",
		"-----Original Message-----", "*From:* Bob", "---------- Forwarded message ---------", "<https://x.io/a>", "WWW.x.io",
		"On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:", "Acme <x@acme.io> schrieb:", "From: a Sent: b Subject: c",
		"On Tue, 4 Mar 2025, Bob <b@x.io> \u017Fchrieb:", "On Tue 4 Mar 2025 Bob \u017Fkrev:") {
		checkPrefilters(t, l)
		checkPrefilters(t, strings.ToUpper(l))
	}
}

func FuzzLinePrefilters(f *testing.F) {
	for _, s := range []string{"Thanks!", "The Acme Team", "-----Original Message-----", "*From:* Bob", "Acme <x@acme.io> wrote:", "www.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		if len(l) > 1000 {
			return
		}
		checkPrefilters(t, l)
	})
}

func TestFirstBytes(t *testing.T) {
	if strongKwWS.first[' '] || strongKwWS.first['x'] || mediumKwWS.first['x'] || negativeKwWS.first['x'] || !strongKwWS.first['V'] || !strongKwWS.first['2'] {
		t.Errorf("strongKwRe first bytes wrong")
	}
	for c := 0; c < 128; c++ {
		if mediumKwWS.first[c] && !isASCIIWordByte(byte(c)) {
			t.Errorf("mediumKwRe can start with %q", rune(c))
		}
	}
}
