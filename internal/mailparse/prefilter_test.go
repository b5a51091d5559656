package mailparse

import (
	"os"
	"strings"
	"testing"
)

// TestPrefilters checks that the literal prefilters never rule out a line
// that the expressions behind them match.
func TestPrefilters(t *testing.T) {
	lines := []string{
		"Unsubscribe", "opt-out", "ACME Inc.", "Acme AG", "Foo GmbH, Berlin", "S.L.U.", "B.V.",
		"View this email in your browser", "(c) 2024", "Sent to bob@example.com", "noreply",
		"Tous droits reserves", "Terminos", "has recibido este", "sie erhalten diese",
		"Calle Mayor", "Via Roma", "rue de Rivoli", "123 Main Street", "Suite 4", "CA 94105",
		"Your verification code", "OTP", "PIN", "2FA", "Passcode", "Codigo", "Kod", "Bestatigungscode",
		"one-time", "TAN", "two-step", "Authentication",
		"Sign in", "Log-in", "is your", "es tu", "ist ihr", "saisissez", "Bestatigen", "usa",
		"ID", "No. 5", "Nr 4", "P.O. Box", "Kundennummer", "last four", "ends in", "Ext. 4", "sort code", "Ref.",
		"CÓDIGO", "Vérification", "DÉSABONNER", "Contáctanos", "© Acme", "Téléfono", "Número", "ID·x", "·Inc·",
		"5\u212Ag", "\u017Fuite 4", "BESTÄTIGUNGSCODE", "Straße 5", "Calle Mayor ñ", "This email was sent — Acme",
		"sent to x@y.z", "Opt out", "View in browser", "view online", "No-Reply", "has recibido este",
		"ESTE E-MAIL FUE ENVIADO", "Diese Nachricht wurde", "Registered in England", "Download our app",
	}
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(string(raw), "\n")...)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) > 2000 || seen[l] {
			continue // base64 and the like are slow to match and teach nothing
		}
		seen[l] = true
		checkKeywordPrefilters(t, l)
	}
}

func FuzzPrefilters(f *testing.F) {
	for _, s := range []string{"Unsubscribe", "ACME Inc.", "Calle Mayor", "your code", "S.A.", "CÓDIGO é", "·ID·", "5\u212Ag"} {
		f.Add(s)
	}
	f.Fuzz(checkKeywordPrefilters)
}

// checkKeywordPrefilters fails if a footer, address or keyword prefilter
// rules out a line its expression matches.
func checkKeywordPrefilters(t *testing.T, l string) {
	for _, c := range []struct {
		name string
		re   interface{ MatchString(string) bool }
		pre  func(string) bool
	}{
		{"footer", footerRe, mayBeFooter},
		{"address", addressRe, mayBeAddress},
		{"strong keyword", strongKwRe, mayHaveStrongKeyword},
		{"medium keyword", mediumKwRe, mayHaveMediumKeyword},
		{"negative keyword", negativeKwRe, mayHaveNegativeKeyword},
	} {
		if c.re.MatchString(l) && !c.pre(l) {
			t.Errorf("%s prefilter rules out %q", c.name, l)
		}
	}
}
