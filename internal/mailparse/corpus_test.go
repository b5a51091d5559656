package mailparse

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// corpusDir holds realistic raw emails, NAME.eml, each with NAME.expect.json.
const corpusDir = "../../testdata/mail"

// expectation is what NAME.expect.json says of NAME.eml.
type expectation struct {
	// Code must be Codes[0].
	Code string `json:"code"`
	// LinkContains must be a substring of Links[0].URL, a verify or reset
	// link.
	LinkContains string `json:"link_contains"`
	// LinkAligned, when given, is what Links[0].Aligned must be.
	LinkAligned *bool `json:"link_aligned"`
	// FirstVerifyContains must be a substring of the URL of the first link
	// of kind verify, wherever it ranks.
	FirstVerifyContains string `json:"first_verify_contains"`
	// NoAlignedVerifyLink: no verify or reset link is aligned with the
	// sender.
	NoAlignedVerifyLink bool `json:"no_aligned_verify_link"`
	// SuspiciousContains must be a substring of a suspicious link's URL.
	SuspiciousContains string `json:"suspicious_contains"`
	// LinkHosts must each be the Host of a link (look-alikes in punycode).
	LinkHosts []string `json:"link_hosts"`
	// NotLinks must not be substrings of any link's URL (hidden links).
	NotLinks []string `json:"not_links"`
	// NotCodes must not be among the Codes at all.
	NotCodes []string `json:"not_codes"`
	// NoCodes: the message holds no verification code.
	NoCodes bool `json:"no_codes"`
	// InText must be in ExtractedText; NotInText must not (hidden text).
	InText    []string `json:"in_text"`
	NotInText []string `json:"not_in_text"`
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < 45 {
		t.Fatalf("corpus has %d messages, want at least 45", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			expRaw, err := os.ReadFile(strings.TrimSuffix(file, ".eml") + ".expect.json")
			if err != nil {
				t.Fatalf("no expectation: %v", err)
			}
			var exp expectation
			dec := json.NewDecoder(strings.NewReader(string(expRaw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&exp); err != nil {
				t.Fatalf("bad expectation: %v", err)
			}
			if exp.Code == "" && exp.LinkContains == "" && exp.FirstVerifyContains == "" {
				t.Fatal("expectation names neither a code nor a link")
			}
			msg, err := Parse(raw, DefaultLimits())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			explain := func() {
				t.Logf("subject: %q", msg.Subject)
				t.Logf("codes: %+v", msg.Codes)
				for i, l := range msg.Links {
					if i == 5 {
						break
					}
					t.Logf("link %d: %s %q %s", i, l.Kind, l.Text, l.URL)
				}
				t.Logf("extracted text:\n%s", msg.ExtractedText)
			}
			if exp.Code != "" {
				if len(msg.Codes) == 0 || msg.Codes[0].Code != exp.Code {
					t.Errorf("Codes[0] is not %q", exp.Code)
					explain()
				}
			}
			if exp.LinkContains != "" {
				if len(msg.Links) == 0 || !strings.Contains(msg.Links[0].URL, exp.LinkContains) {
					t.Errorf("Links[0] does not contain %q", exp.LinkContains)
					explain()
				}
				if len(msg.Links) > 0 && msg.Links[0].Kind != mailmsg.LinkVerify && msg.Links[0].Kind != mailmsg.LinkReset {
					t.Errorf("Links[0] is of kind %q", msg.Links[0].Kind)
				}
			}
			for _, nc := range exp.NotCodes {
				for _, c := range msg.Codes {
					if c.Code == nc {
						t.Errorf("%q is among the codes", nc)
						explain()
					}
				}
			}
			if exp.NoCodes && len(msg.Codes) > 0 {
				t.Errorf("want no codes")
				explain()
			}
			for _, problem := range checkLinkExpectations(exp, msg) {
				t.Error(problem)
				explain()
			}
			for _, s := range exp.InText {
				if !strings.Contains(msg.ExtractedText, s) {
					t.Errorf("extracted text lacks %q", s)
				}
			}
			for _, s := range exp.NotInText {
				if strings.Contains(strings.ToLower(msg.ExtractedText), strings.ToLower(s)) {
					t.Errorf("extracted text holds hidden %q", s)
				}
			}
			if err := checkLinkOrder(msg.Links, msg.FromAddress); err != nil {
				t.Error(err)
			}
			if msg.Subject == "" || msg.FromAddress == "" {
				t.Errorf("subject %q, from address %q", msg.Subject, msg.FromAddress)
			}
			if strings.TrimSpace(msg.ExtractedText) == "" {
				t.Errorf("empty extracted text")
			}
		})
	}
}

// checkLinkExpectations returns what of exp's link expectations msg does
// not meet.
func checkLinkExpectations(exp expectation, msg *mailmsg.Message) []string {
	var out []string
	if exp.LinkContains != "" {
		if len(msg.Links) == 0 || !strings.Contains(msg.Links[0].URL, exp.LinkContains) {
			out = append(out, fmt.Sprintf("Links[0] does not contain %q", exp.LinkContains))
		} else if k := msg.Links[0].Kind; k != mailmsg.LinkVerify && k != mailmsg.LinkReset {
			out = append(out, fmt.Sprintf("Links[0] is of kind %q", k))
		}
	}
	if exp.LinkAligned != nil && (len(msg.Links) == 0 || msg.Links[0].Aligned != *exp.LinkAligned) {
		out = append(out, fmt.Sprintf("Links[0] is not aligned %v", *exp.LinkAligned))
	}
	firstVerify, suspicious, hosts := "", "", map[string]bool{}
	for _, l := range msg.Links {
		if l.Kind == mailmsg.LinkVerify && firstVerify == "" {
			firstVerify = l.URL
		}
		if l.Kind == mailmsg.LinkSuspicious && strings.Contains(l.URL, exp.SuspiciousContains) {
			suspicious = l.URL
		}
		if exp.NoAlignedVerifyLink && l.Aligned && (l.Kind == mailmsg.LinkVerify || l.Kind == mailmsg.LinkReset) {
			out = append(out, fmt.Sprintf("aligned %s link %s", l.Kind, l.URL))
		}
		for _, nl := range exp.NotLinks {
			if strings.Contains(l.URL, nl) {
				out = append(out, fmt.Sprintf("hidden link %s is among the links", l.URL))
			}
		}
		hosts[l.Host] = true
	}
	if exp.FirstVerifyContains != "" && !strings.Contains(firstVerify, exp.FirstVerifyContains) {
		out = append(out, fmt.Sprintf("first verify link %q does not contain %q", firstVerify, exp.FirstVerifyContains))
	}
	if exp.SuspiciousContains != "" && suspicious == "" {
		out = append(out, fmt.Sprintf("no suspicious link contains %q", exp.SuspiciousContains))
	}
	for _, h := range exp.LinkHosts {
		if !hosts[h] {
			out = append(out, fmt.Sprintf("no link has host %q", h))
		}
	}
	return out
}
