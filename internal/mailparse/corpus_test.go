package mailparse

import (
	"encoding/json"
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
	// LinkContains must be a substring of Links[0].URL.
	LinkContains string `json:"link_contains"`
	// NotCodes must not be among the Codes at all.
	NotCodes []string `json:"not_codes"`
	// NoCodes: the message holds no verification code.
	NoCodes bool `json:"no_codes"`
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
			if exp.Code == "" && exp.LinkContains == "" {
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
			if msg.Subject == "" || msg.FromAddress == "" {
				t.Errorf("subject %q, from address %q", msg.Subject, msg.FromAddress)
			}
			if strings.TrimSpace(msg.ExtractedText) == "" {
				t.Errorf("empty extracted text")
			}
		})
	}
}
