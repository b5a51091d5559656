package mailparse

import (
	"fmt"
	"net/mail"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Every hand-written fast path of the package is checked here against the
// rule it mirrors: a prefilter must never rule out a line its expression
// matches; a scanner, a memo or a one-pass rewrite must give exactly the
// answer of the rule. Each Test runs the corpus lines and made-up ones, one
// subtest per rule; each Fuzz target runs arbitrary lines and names the
// rule in its failures. A new fast path gets a row in one of the tables.

// fastPath is a fast path and the rule it mirrors.
type fastPath struct {
	rule string // the rule, by name: the expression or the definition
	// check returns "" when the fast path agrees with the rule on s, else
	// what went wrong.
	check func(s string) string
}

// prefilter is the fastPath of a prefilter pre (named name) that guards
// the expression re (named rule).
func prefilter(rule string, re interface{ MatchString(string) bool }, name string, pre func(string) bool) fastPath {
	return fastPath{rule, func(l string) string {
		if re.MatchString(l) && !pre(l) {
			return fmt.Sprintf("%s rules out %q, which %s matches", name, l, rule)
		}
		return ""
	}}
}

// equalTo is the fastPath of fast, which must return what rule does.
func equalTo[T any](rule string, byRule func(string) T, name string, fast func(string) T) fastPath {
	return fastPath{rule, func(s string) string {
		if got, want := fast(s), byRule(s); !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("%s(%q) = %v, %s says %v", name, s, got, rule, want)
		}
		return ""
	}}
}

// madeUpLines are lines the corpus lacks: every language of the rules,
// upper case, and the runes (?i) folds with ASCII letters (the Kelvin sign
// and the long s).
var madeUpLines = []string{
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
	"sent to x@y.z", "Opt out", "View in browser", "view online", "No-Reply", "ESTE E-MAIL FUE ENVIADO",
	"Diese Nachricht wurde", "Registered in England", "Download our app",
	"Hauptstraße 5", "Lindenstrasse 12", "10115 Berlin", "Berlin, 10115 Berlin", "P.O. Box 12", "Floor 3",
	"12b  Oak Lane", "Your verification code is 739142.", "Kundennummer 12345", "promo code SAVE20",
	"Enter the code", "xcodes", "your account number ending in 4242", "_ref. 12", "2fa code", "order#1234", "© 2024",
	"Thanks!", "Best regards,", "happy hacking", "The Acme Team", "-- L'équipe Acme",
	"-----Original Message-----", "*From:* Bob", "---------- Forwarded message ---------", "<https://x.io/a>", "WWW.x.io",
	"On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:", "Acme <x@acme.io> schrieb:", "From: a Sent: b Subject: c",
	"On Tue, 4 Mar 2025, Bob <b@x.io> \u017Fchrieb:", "On Tue 4 Mar 2025 Bob \u017Fkrev:", "Bob <b@x.io> wrote",
	"see https://example.com/verify?token=abc123def456ghi789 now", "http://[::1]:8080/x", "HTTPS://USER@EXAMPLE.COM:443/",
}

// fastPathLines are the made-up lines and the corpus lines (up to 2,000
// bytes: base64 and the like are slow to match and teach nothing), each
// also in upper case.
func fastPathLines(t testing.TB) []string {
	t.Helper()
	lines := append([]string(nil), madeUpLines...)
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(string(raw), "\n")...)
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		for _, v := range []string{l, strings.ToUpper(l)} {
			if len(v) <= 2000 && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// runFastPaths checks each fast path on every input, in a subtest named
// after its rule.
func runFastPaths(t *testing.T, paths []fastPath, inputs []string) {
	for _, p := range paths {
		t.Run(p.rule, func(t *testing.T) {
			failures := 0
			for _, s := range inputs {
				if msg := p.check(s); msg != "" {
					t.Error(msg)
					if failures++; failures == 10 {
						t.Fatal("and more")
					}
				}
			}
		})
	}
}

// fuzzFastPaths checks each fast path on arbitrary inputs of at most
// maxLen bytes.
func fuzzFastPaths(f *testing.F, paths []fastPath, maxLen int, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxLen {
			return
		}
		for _, p := range paths {
			if msg := p.check(s); msg != "" {
				t.Errorf("%s: %s", p.rule, msg)
			}
		}
	})
}

// --- boilerplate: footers, postal addresses, sign-offs ---

var boilerplatePrefilters = []fastPath{
	prefilter("addressRe", addressRe, "mayBeAddress", mayBeAddress),
	prefilter("signOffRe", signOffRe, "mayBeSignOff", mayBeSignOff),
	prefilter("teamRe", teamRe, "mayBeTeam", mayBeTeam),
	prefilter("urlOnlyRe", urlOnlyRe, "mayBeURLOnly", mayBeURLOnly),
}

func TestBoilerplatePrefilters(t *testing.T) {
	runFastPaths(t, boilerplatePrefilters, fastPathLines(t))
}

func FuzzBoilerplatePrefilters(f *testing.F) {
	fuzzFastPaths(f, boilerplatePrefilters, 2000, "Unsubscribe", "ACME Inc.", "Calle Mayor", "S.A.", "·Inc·", "Thanks!", "The Acme Team", "www.x")
}

// --- expressions matched alternative by alternative (altRe) ---

var altMatchers = []fastPath{
	equalTo("footerRe", footerRe.MatchString, "footer.MatchString", footer.MatchString),
	equalTo("monthRe", monthRe.MatchString, "monthWords.MatchString", monthWords.MatchString),
	equalTo("codeModifierRe", codeModifierRe.MatchString, "hasCodeModifier", hasCodeModifier),
	equalTo("unsubWordsRe", unsubWordsRe.MatchString, "unsubWords.MatchString", unsubWords.MatchString),
	equalTo("privacyWordsRe", privacyWordsRe.MatchString, "privacyWords.MatchString", privacyWords.MatchString),
	equalTo("resetTextRe", resetTextRe.MatchString, "resetText.MatchString", resetText.MatchString),
	equalTo("resetURLRe", resetURLRe.MatchString, "resetURL.MatchString", resetURL.MatchString),
	equalTo("verifyWordsRe", verifyWordsRe.MatchString, "verifyWords.MatchString", verifyWords.MatchString),
	equalTo("loginWordsRe", loginWordsRe.MatchString, "loginWords.MatchString", loginWords.MatchString),
	equalTo("pixelURLRe", pixelURLRe.MatchString, "pixelURL.MatchString", pixelURL.MatchString),
	equalTo("clickURLRe", clickURLRe.MatchString, "clickURL.MatchString", clickURL.MatchString),
	equalTo("unitAfterRe", unitAfterRe.MatchString, "hasUnitAfter", hasUnitAfter),
	equalTo("currencyBeforeRe", currencyBeforeRe.MatchString, "hasCurrencyBefore", hasCurrencyBefore),
}

// TestWordWindow holds maxWordWindow to the words it must hold, with a
// character on either side: a pattern is no shorter than its matches here.
func TestWordWindow(t *testing.T) {
	for _, words := range []string{unitWords, codeModifierWords} {
		for _, alt := range expandAlternatives(words) {
			if len(alt)+8 > maxWordWindow {
				t.Errorf("%q does not fit maxWordWindow (%d bytes) with its neighbours", alt, maxWordWindow)
			}
		}
	}
}

// altMatcherInputs are the fast-path lines, and the link texts and URL
// words of the corpus, which the link expressions read.
func altMatcherInputs(t testing.TB) []string {
	in := fastPathLines(t)
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Parse(raw, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range msg.Links {
			in = append(in, l.Text, strings.ToLower(l.Text), urlWords(l.URL), pathOf(urlWords(l.URL)))
		}
	}
	return in
}

func TestAltMatchers(t *testing.T) {
	runFastPaths(t, altMatchers, altMatcherInputs(t))
}

func FuzzAltMatchers(f *testing.F) {
	fuzzFastPaths(f, altMatchers, 2000, "Unsubscribe", "ACME Inc.", "ACME INC", "S.A.", "·Inc·", "(c) 2024", "© Acme",
		"view this email in your browser", "Contáctanos", "no-reply", "\u212Ag", "this email was sent", "15 Mar 2025",
		"promo code", "https://x.io/reset-password?token=abc", "/o/x", "clicks.", "Mai", "email",
		" minutes", "%", "\tDÍAS", "m²", "pts.", "US$ ", "rs.", "€", "xusd", "uſd ")
}

// --- quoted replies and forwards ---

var quotePrefilters = []fastPath{
	prefilter("attributionRe", attributionRe, "mayBeAttribution", mayBeAttribution),
	prefilter("attributionAddrRe", attributionAddrRe, "mayBeAttribution", mayBeAttribution),
	prefilter("attributionTailRe", attributionTailRe, "mayBeAttribution", mayBeAttribution),
	prefilter("originalMsgRe", originalMsgRe, "mayBeOriginalMsg", mayBeOriginalMsg),
	prefilter("outlookFromRe", outlookFromRe, "mayBeOutlookFrom", mayBeOutlookFrom),
	prefilter("outlookInlineRe", outlookInlineRe, "mayBeOutlookInline", mayBeOutlookInline),
	prefilter("forwardStartRe", forwardStartRe, "mayBeForwardStart", mayBeForwardStart),
	// In ASCII text the prefilter is exactly "holds one of the words".
	equalTo("attributionWords", attributionWordsByRule, "mayBeAttribution", asciiOnly(mayBeAttribution, attributionWordsByRule)),
}

// attributionWordsByRule tells whether l holds one of attributionWords.
func attributionWordsByRule(l string) bool {
	lower := strings.ToLower(l)
	for _, w := range attributionWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// asciiOnly is fast on ASCII text and rule elsewhere.
func asciiOnly(fast, rule func(string) bool) func(string) bool {
	return func(s string) bool {
		if isASCII(s) {
			return fast(s)
		}
		return rule(s)
	}
}

func TestQuotePrefilters(t *testing.T) {
	runFastPaths(t, quotePrefilters, fastPathLines(t))
}

func FuzzQuotePrefilters(f *testing.F) {
	fuzzFastPaths(f, quotePrefilters, 1000, "-----Original Message-----", "*From:* Bob", "Acme <x@acme.io> wrote:",
		"On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:", "From: a Sent: b Subject: c", "Begin forwarded message:")
}

// --- verification codes: tokens and keywords ---

var codePrefilters = []fastPath{
	prefilter("strongKwRe", strongKwRe, "mayHaveStrongKeyword", mayHaveStrongKeyword),
	prefilter("mediumKwRe", mediumKwRe, "mayHaveMediumKeyword", mayHaveMediumKeyword),
	prefilter("negativeKwRe", negativeKwRe, "mayHaveNegativeKeyword", mayHaveNegativeKeyword),
	prefilter("maskRe", maskRe, "mayNeedMask", mayNeedMask),
	equalTo("scanTokens", tokensByRule, "findTokens", findTokens),
	equalTo("digitSeqRe", findAllIndex(digitSeqRe.FindAllStringIndex), "digitRuns", asSlices(digitRuns)),
	equalTo("alnumSeqRe", findAllIndex(alnumSeqRe.FindAllStringIndex), "alnumRuns", asSlices(alnumRuns)),
}

// tokensByRule is findTokens without its prefilter.
func tokensByRule(l string) []token {
	return scanTokens(TruncateUTF8(l, maxLineBytes))
}

// asSlices returns f's pairs as FindAllStringIndex does.
func asSlices(f func(string) [][2]int) func(string) [][]int {
	return func(s string) [][]int {
		var out [][]int
		for _, p := range f(s) {
			out = append(out, []int{p[0], p[1]})
		}
		return out
	}
}

func TestCodePrefilters(t *testing.T) {
	runFastPaths(t, codePrefilters, fastPathLines(t))
}

func FuzzCodePrefilters(f *testing.F) {
	fuzzFastPaths(f, codePrefilters, 2000, "your code", "CÓDIGO é", "·ID·", "5\u212Ag", "Your code is 739142", "https://x.io/739142", "#fff 1234",
		"739 142", "739\u2011142-", "K7Q-2MX-", "12 -3", "1\u2013", "AB--CD")
}

// --- the scanners: expressions matched a faster way ---

var addressScanner = []fastPath{
	equalTo("addressRe", addressRe.MatchString, "matchAddress", matchAddress),
}

func TestAddressScanner(t *testing.T) {
	runFastPaths(t, addressScanner, fastPathLines(t))
}

func FuzzAddressScanner(f *testing.F) {
	fuzzFastPaths(f, addressScanner, 3000, madeUpLines[:30]...)
}

var keywordScanners = []fastPath{
	equalTo("strongKwRe", findAllIndex(strongKwRe.FindAllStringIndex), "strongKwWS.findAll", strongKwWS.findAll),
	equalTo("mediumKwRe", findAllIndex(mediumKwRe.FindAllStringIndex), "mediumKwWS.findAll", mediumKwWS.findAll),
	equalTo("negativeKwRe", findAllIndex(negativeKwRe.FindAllStringIndex), "negativeKwWS.findAll", negativeKwWS.findAll),
}

func findAllIndex(f func(string, int) [][]int) func(string) [][]int {
	return func(s string) [][]int { return f(s, -1) }
}

func TestKeywordScanners(t *testing.T) {
	runFastPaths(t, keywordScanners, fastPathLines(t))
}

func FuzzKeywordScanners(f *testing.F) {
	fuzzFastPaths(f, keywordScanners, 3000, madeUpLines[:30]...)
}

func TestWordStartDispatch(t *testing.T) {
	if strongKwWS.byByte[' '] != nil || strongKwWS.byByte['x'] != nil || mediumKwWS.byByte['x'] != nil ||
		negativeKwWS.byByte['x'] != nil || strongKwWS.byByte['V'] == nil || strongKwWS.byByte['2'] == nil {
		t.Errorf("strongKwRe first bytes wrong")
	}
	if strongKwWS.wildByByte['x'] == nil || negativeKwWS.wildByByte['x'] == nil {
		t.Errorf("the wild alternatives can start with any word byte")
	}
	for c := 0; c < 128; c++ {
		if mediumKwWS.byByte[c] != nil && !isASCIIWordByte(byte(c)) {
			t.Errorf("mediumKwRe can start with %q", rune(c))
		}
	}
	if !slices.ContainsFunc(negativeKwWS.leads['o'], func(l []byte) bool { return string(l) == "order" }) {
		t.Errorf("negativeKwRe's leading literals at 'o' are %q, without \"order\"", negativeKwWS.leads['o'])
	}
	// The Kelvin sign and the long s fold with k and s; lines holding them
	// are searched whole.
	want := [][2]rune{{'©', '©'}, {'\u017F', '\u017F'}, {'\u212A', '\u212A'}}
	if got := negativeKwWS.nonASCII; !reflect.DeepEqual(got, want) {
		t.Errorf("negativeKwRe starts with non-ASCII runes %q, want %q", got, want)
	}
}

// --- the line cache: memoised checks ---

// lineCacheChecks hold the memoised line checks to the rules they stand
// for, asked twice of one cache (computed, then remembered) and once of
// the nil cache, which computes every time.
var lineCacheChecks = []fastPath{
	equalTo("scanTokens", thrice(tokensByRule), "lineCache.tokens", func(l string) [][]token {
		c := newLineCache()
		return [][]token{c.tokens(l), c.tokens(l), (*lineCache)(nil).tokens(l)}
	}),
	equalTo("strongKwRe", strongKeywordsByRule, "lineCache.strongKeywords", func(l string) [][]kwMatch {
		c := newLineCache()
		return [][]kwMatch{c.strongKeywords(l), c.strongKeywords(l), (*lineCache)(nil).strongKeywords(l)}
	}),
	equalTo("strongKwRe|mediumKwRe|negativeKwRe", keywordsByRule, "lineCache.keywords", func(l string) [][]kwMatch {
		c := newLineCache()
		return [][]kwMatch{c.keywords(l), c.keywords(l), (*lineCache)(nil).keywords(l)}
	}),
	equalTo("footerRe|addressRe", footerByRule, "lineCache.isFooterLine", func(l string) []bool {
		c := newLineCache()
		return []bool{c.isFooterLine(l), c.isFooterLine(l), (*lineCache)(nil).isFooterLine(l)}
	}),
	equalTo("addressRe", addressByRule, "lineCache.isAddressLine", func(l string) []bool {
		c := newLineCache()
		return []bool{c.isAddressLine(l), c.isAddressLine(l), (*lineCache)(nil).isAddressLine(l)}
	}),
}

func thrice[T any](f func(string) T) func(string) []T {
	return func(l string) []T { v := f(l); return []T{v, v, v} }
}

var (
	strongKeywordsByRule = thrice(func(l string) []kwMatch { return keywordMatchesByRule(l, false) })
	keywordsByRule       = thrice(func(l string) []kwMatch { return keywordMatchesByRule(l, true) })
	footerByRule         = thrice(func(l string) bool {
		return len(l) <= 2000 && (footerRe.MatchString(l) || addressRe.MatchString(l))
	})
	addressByRule = thrice(addressRe.MatchString)
)

// keywordMatchesByRule finds the keywords of a line with the expressions
// alone: the strong ones, and with all the medium and negative ones too.
func keywordMatchesByRule(l string, all bool) []kwMatch {
	l = TruncateUTF8(l, maxLineBytes)
	var out []kwMatch
	for _, loc := range strongKwRe.FindAllStringIndex(l, -1) {
		out = append(out, kwMatch{loc[0], loc[1], strongKeywordStrength(l, loc[0], loc[1])})
	}
	if !all {
		return out
	}
	for _, loc := range mediumKwRe.FindAllStringIndex(l, -1) {
		out = append(out, kwMatch{loc[0], loc[1], kwMedium})
	}
	for _, loc := range negativeKwRe.FindAllStringIndex(l, -1) {
		out = append(out, kwMatch{loc[0], loc[1], kwDistractor})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

func TestLineCache(t *testing.T) {
	runFastPaths(t, lineCacheChecks, fastPathLines(t))
}

func FuzzLineCache(f *testing.F) {
	fuzzFastPaths(f, lineCacheChecks, 2000, madeUpLines[:30]...)
}

// --- text normalisation ---

var normalizeChecks = []fastPath{
	equalTo("normalizeTextSlow", normalizeTextSlow, "normalizeText", normalizeText),
	equalTo("strings.Map(visibleRune)", mapVisible, "removeInvisible", validOnly(removeInvisible, mapVisible)),
}

func mapVisible(s string) string { return strings.Map(visibleRune, s) }

// validOnly is fast on valid UTF-8, the only text it is given, and rule
// elsewhere.
func validOnly(fast, rule func(string) string) func(string) string {
	return func(s string) string {
		if utf8.ValidString(s) {
			return fast(s)
		}
		return rule(s)
	}
}

// normalizeInputs are whole corpus messages, their lines, and texts with
// every kind of white space, invisible character and line end.
func normalizeInputs(t testing.TB) []string {
	in := []string{"", " ", "\n", "a", "a ", " a", "a\n", "a\n\n\nb", "a  b", "a \nb", "a\r\nb\rc", "\r\n\r\n",
		"a\u00a0\u2003b", "\u200b", "a\u200bb", "x\u00adY", "\tx\t", "a\x00b\x7fc", "é  è\n\n\n ü ", "\xff", "a\xffb\n\nc",
		"a \n \n b", "one\n\n\ntwo\n \n\nthree  \n", "\u2028line\u2029", "\ufeffBOM"}
	in = append(in, fastPathLines(t)...)
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, string(raw))
	}
	return in
}

func TestNormalizeText(t *testing.T) {
	runFastPaths(t, normalizeChecks, normalizeInputs(t))
}

func FuzzNormalizeText(f *testing.F) {
	fuzzFastPaths(f, normalizeChecks, 1<<16, "a  b\r\n\r\n\r\nc", "x\u200b\u00a0y", "\xffz", " \n\t\n")
}

// --- header values ---

var headerFastPaths = []fastPath{
	equalTo("wsRun", func(s string) string { return wsRun.ReplaceAllString(s, " ") }, "collapseWSRuns", collapseWSRuns),
	{"mail.ParseDate", func(s string) string {
		s = cleanHeader(s)
		t, err := time.Parse(rfc5322Date, s)
		if err != nil {
			return ""
		}
		if u, err := mail.ParseDate(s); err != nil || t.String() != u.String() {
			return fmt.Sprintf("dateHeader reads %q as %v, mail.ParseDate as %v (%v)", s, t, u, err)
		}
		return ""
	}},
}

func TestHeaderFastPaths(t *testing.T) {
	runFastPaths(t, headerFastPaths, fastPathLines(t))
}

func FuzzHeaderFastPaths(f *testing.F) {
	fuzzFastPaths(f, headerFastPaths, 2000, "a  b", "a\t\x00b ", " a", "a\r\n b", "x\u00a0 y",
		"Thu, 26 Nov 2026 12:00:00 +0000", "Mon, 02 Jan 2006 15:04:05 -0700", "Tue, 1 Feb 99 01:02:03 +0100")
}

// --- links ---

var linkFastPaths = []fastPath{
	prefilter("textURLRe", textURLRe, "mayHaveURL", mayHaveURL),
	equalTo("urlHost", urlHost, "hostCache.host", func(u string) string {
		c := hostCache{}
		first := c.host(u)
		if again := c.host(u); again != first {
			return "remembered " + again
		}
		return first
	}),
}

func TestLinkFastPaths(t *testing.T) {
	runFastPaths(t, linkFastPaths, fastPathLines(t))
}

func FuzzLinkFastPaths(f *testing.F) {
	fuzzFastPaths(f, linkFastPaths, 2000, "https://x.io/a", "see http://a.b/c.", "https://u:p@[::1]:80/", "http://%41.example/", "https://example.com\\@evil.test/")
}

// --- HTML: style sheets, and the bytes enmime takes for space ---

// styleTagCheck holds hasStyleTag to the rule it guards: a document
// whose parse has a <style> element must not be ruled out.
var styleTagCheck = []fastPath{{"a <style> element in html.Parse's tree", func(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil || !hasStyleElement(doc) || hasStyleTag(s) {
		return ""
	}
	return fmt.Sprintf("hasStyleTag rules out %q, whose parse has a <style> element", s)
}}}

func hasStyleElement(n *html.Node) bool {
	if n.Type == html.ElementNode && n.DataAtom == atom.Style {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasStyleElement(c) {
			return true
		}
	}
	return false
}

func TestStyleTagPrefilter(t *testing.T) {
	inputs := []string{`<style>p{}</style>`, `<STYLE>`, `<svg><style>a{}</style></svg>`, `<p style="x">`, `<sTyLe/>`, `<!--<style>-->`}
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(raw))
	}
	runFastPaths(t, styleTagCheck, inputs)
}

func FuzzStyleTagPrefilter(f *testing.F) {
	fuzzFastPaths(f, styleTagCheck, 1<<14, `<style>p{}</style>`, `<svg><style>`, `<p style="a">`, `<table><style>`)
}

func TestIsEnmimeSpace(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := isEnmimeSpace(byte(c)), unicode.IsSpace(rune(byte(c))); got != want {
			t.Errorf("isEnmimeSpace(%#x) = %v, unicode.IsSpace says %v", c, got, want)
		}
	}
}
