package mailparse

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Code candidates: how they look.
const (
	tokDigits  = iota // 4–8 digits: 739142
	tokGrouped        // digits in equal groups: 739 142, 739-142, 7 3 9 1 4 2
	tokAlnum          // capitals and digits: ABC123, K7Q-2MX
)

// token is a code-like token on a line.
type token struct {
	start, end int // byte offsets in the line
	raw        string
	norm       string
	kind       int
	adjacent   bool // one of several numbers in a row: 482913 2025
}

const (
	minCodeScore   = 5 // a candidate below this is not reported
	maxCodeLines   = 3000
	maxLineBytes   = 4000
	maxCodesOutput = 10
	// maxTokensPerLine: a line with more candidates than this is a table
	// of numbers, not a message with a code in it.
	maxTokensPerLine = 40
)

var (
	digitSeqRe = regexp.MustCompile(`[0-9]+(?:[ \-\x{2010}\x{2011}\x{2012}\x{2013}][0-9]+)*`)
	alnumSeqRe = regexp.MustCompile(`[A-Z0-9]+(?:-[A-Z0-9]+)*`)
	maskRe     = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s<>"]+|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|#[0-9a-f]{3,8}\b`)

	// Tokens that look like codes but are names of things.
	alnumStopRe = regexp.MustCompile(`^(?:ISO|RFC|SHA|MD|UTF|HTTP|TLS|SSL|IPV|COVID|WIN|CVE|PCI|SOC|GDPR|ISBN|IBAN|MP|H26|X50|AES|RSA|USB|HDMI|DDR|GPT|IOS|PS|XBOX|NFT|HTML|CSS|ES|EN|DIN|IEC|ICD|WCAG|OAUTH|FIDO|U2F|WEBAUTHN|TOTP|HOTP|ORDER|INV|REF|TKT|SKU|Q[1-4]|FY|KW|CW|AM|PM|GMT|UTC|CET|CEST|PST|PDT|EST|EDT)[0-9]|^[0-9]+(?:GB|MB|KB|TB|PX|MIN|MINS|HRS?|H|AM|PM|K|P|X|ST|ND|RD|TH|D|M|S|MS|FPS|MP|HZ|GHZ|MHZ|KM|KG|LB|LBS|OZ|ML|L|G|MM|CM|IN|FT|W|KW|V|MAH|DPI|PPI|BIT|BITS)$`)

	// Words that make a nearby number a verification code…
	strongKwRe = regexp.MustCompile(`(?i)\b(?:verif\w*|v[ée]rification|one[- ]?time|otp|pass\s?codes?|pins?|2fa|mfa|tan|two[- ](?:factor|step)|authenticat\w*|c[oó]digos?|codice|kod|kode|\w*codes?|einmal\w*|sicherheits\w*|best[äa]tigungs\w*|anmelde\w*|zugangs\w*|verifizierungs\w*)\b`)
	// …or perhaps one…
	mediumKwRe = regexp.MustCompile(`(?i)\b(?:confirm\w*|enter|use|using|is your|type|paste|sign[- ]?in|log[- ]?in|login|token|expires?|valid|ingresa\w*|introduce\w*|utiliza\w*|usa|escribe|es tu|eingeben|gib|verwende\w*|lautet|ist ihr|ist dein|saisi\w*|saisissez|entrez|utilise\w*|est votre|inserisci|conferma\w*|confirma\w*|best[äa]tig\w*)\b`)
	// …and words that make it something else.
	negativeKwRe = regexp.MustCompile(`(?i)(?:\border\w*|\binvoice\w*|\breceipt\w*|\bticket\w*|\bref\b\.?|\breference\w*|\breferencia\w*|\bcase\b|\bbooking\w*|\breservation\w*|\breserva\b|\baccount\s+(?:no|number|ending|id)\w*|\bacct\w*|\bcustomer\s+(?:no|number|id)\w*|\bmember\w*|\btransaction\w*|\btracking\w*|\bshipment\w*|\bparcel\w*|\bpackage\w*|\bphone\w*|\btel\b\.?|\btelephone\w*|\btel[ée]fono\w*|\btelefon\w*|\bfax\b|\bcall\b|\bwhatsapp\b|\bmobile\b|\bzip\b|\bpost ?codes?\b|\bpostal\b|\bplz\b|\bsuite\b|\bapt\b|\bunit\b|\bp\.?o\.? box\b|\bid\b|\bno\.|\bnr\.?|\bnum(?:ber|ero|éro|mer)\w*|\b\w+nummer\b|\bbestell\w*|\brechnung\w*|\bauftrag\w*|\bpedido\w*|\bfactura\w*|\bserial\w*|\bmodel\w*|\bversion\w*|\biban\b|\bbic\b|\bswift\b|\brouting\b|\bsort code\b|\bcard\w*|\bending in\b|\bends in\b|\blast (?:4|four)\b|\bflight\w*|\bseat\b|\bgate\b|\broom\b|\bextension\b|\bext\.|\bprice\w*|\btotal\w*|\bamount\w*|\bsubtotal\w*|\bpoints?\b|\bsku\b|\bitem\w*|\bqty\b|\bquantity\b|\bcopyright\b|©|\bpromo\w*|\bcoupon\w*|\bvoucher\w*|\bdiscount\w*|\bgift\w*|\bkundennr\b|\bmeeting\w*|\bconference\w*|\bdial\w*|\bbalance\w*|\bsaldo\b|\bloyalty\b|\brewards?\b)`)
	// "code" words that are not about verification.
	notCodeWords = map[string]bool{
		"postcode": true, "postcodes": true, "zipcode": true, "zipcodes": true, "barcode": true,
		"barcodes": true, "qrcode": true, "promocode": true, "promocodes": true, "decode": true,
		"encode": true, "unicode": true, "opcode": true, "geocode": true, "gutscheincode": true,
		"rabattcode": true, "aktionscode": true, "vouchercode": true, "discountcode": true,
		"couponcode": true, "giftcode": true, "trackingcode": true, "sourcecode": true,
	}
	// Words next to "code" that make it not a verification code.
	codeModifierRe = regexp.MustCompile(`(?i)(?:\b(?:promo|promotional|discount|coupon|voucher|gift|referral|zip|postal|post|area|country|qr|source|dress|tracking|bar|tax|sort|swift|bank|product|style|colou?r|html|error|status|reason|response|event|order|booking|reservation|reference|confirmation number|ref|invite|airport|currency|language|region|dial|iata|icao|sic|naics|hs|tariff|discount|rabatt|gutschein|aktions|descuento|cup[oó]n|regalo|promocional)\s*[-:]?\s*$)`)
	codeFollowerRe = regexp.MustCompile(`(?i)^\s*(?:postal|promo\w*|de (?:descuento|reserva|pedido|seguimiento|barras|env[ií]o|regalo|promoci[oó]n)|of conduct|reviews?|snippet|block|editor|repository|base|changes?)\b`)

	monthRe          = regexp.MustCompile(`(?i)\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lunes|martes|miércoles|jueves|viernes|sábado|domingo|since|est\.|established|founded)\b|©|\(c\)|copyright`)
	unitAfterRe      = regexp.MustCompile(`(?i)^\s?(?:%|percent|per ?cent|mb|gb|kb|tb|px|pts?\b|points|punkte|puntos|miles|meilen|km|kg|lbs?\b|users|items|words|characters|chars|bytes|dpi|mah|hz|years?|yrs?\b|months?|weeks?|days?|hours?|hrs?\b|h\b|minutes?|mins?\b|seconds?|secs?\b|times|x\b|am\b|pm\b|uhr\b|jahre?n?\b|tage?n?\b|stunden?\b|minuten?\b|años?\b|d[ií]as?\b|horas?\b|minutos?\b|usd|eur|gbp|chf|jpy|cad|aud|mxn|dollars?|euros?|€|\$|£|¥|₹|steps|calories|kcal|followers|views|likes|reviews|ratings?|stars|subscribers|members|employees|people|downloads|installs|sq\b|ft\b|m²|m2\b|qm\b|ms\b)`)
	currencyBeforeRe = regexp.MustCompile(`(?i)(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|cad|aud|mxn|us\$|rs\.?|inr))\s?$`)
)

// NormalizeCode removes the spaces and dashes inside a code:
// "7 3 9 1 4 2" → "739142", "K7Q-2MX" → "K7Q2MX".
func NormalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '‐' || r == '‑' || r == '‒' || r == '–' || r == '—' {
			return -1
		}
		return r
	}, s)
}

// mask blanks URLs, email addresses and hex colours out of a line,
// keeping byte offsets.
func mask(line string) string {
	if !mayNeedMask(line) {
		return line
	}
	locs := maskRe.FindAllStringIndex(line, -1)
	if locs == nil {
		return line
	}
	b := []byte(line)
	for _, l := range locs {
		for i := l[0]; i < l[1]; i++ {
			b[i] = ' '
		}
	}
	return string(b)
}

func runeBefore(s string, i int) rune {
	if i <= 0 {
		return 0
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

func runeAfter(s string, i int) rune {
	if i >= len(s) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// lineCache memoises the tokens and keywords of lines: the analysis of a
// message looks at the same lines many times. A nil *lineCache computes
// every time.
type lineCache struct {
	toks   map[string][]token
	kws    map[string][]kwMatch
	strong map[string][]kwMatch
	footer map[string]bool
	addr   map[string]bool
}

func newLineCache() *lineCache {
	return &lineCache{toks: map[string][]token{}, kws: map[string][]kwMatch{}, strong: map[string][]kwMatch{}, footer: map[string]bool{}, addr: map[string]bool{}}
}

// memo returns m[key], computing it with f the first time.
func memo[T any](m map[string]T, key string, f func(string) T) T {
	v, ok := m[key]
	if !ok {
		v = f(key)
		m[key] = v
	}
	return v
}

func (c *lineCache) tokens(line string) []token {
	if c == nil {
		return findTokens(line)
	}
	return memo(c.toks, line, findTokens)
}

func (c *lineCache) keywords(line string) []kwMatch {
	if c == nil {
		return keywords(line)
	}
	return memo(c.kws, line, func(l string) []kwMatch { return keywordsFrom(l, c.strongKeywords(l)) })
}

// strongKeywords memoises strongKeywords(line).
func (c *lineCache) strongKeywords(line string) []kwMatch {
	if c == nil {
		return strongKeywords(line)
	}
	return memo(c.strong, line, strongKeywords)
}

// findTokens returns the code-like tokens of a line.
func findTokens(line string) []token {
	if len(line) > maxLineBytes {
		line = TruncateUTF8(line, maxLineBytes)
	}
	// Every token holds an ASCII digit, and masking adds none.
	if !hasASCIIDigit(line) {
		return nil
	}
	return scanTokens(line)
}

// scanTokens is findTokens without its prefilter.
func scanTokens(line string) []token {
	m := mask(line)
	var toks []token
	for _, loc := range digitSeqRe.FindAllStringIndex(m, -1) {
		toks = append(toks, digitTokens(m, line, loc[0], loc[1])...)
	}
	for _, loc := range alnumSeqRe.FindAllStringIndex(m, -1) {
		if t, ok := alnumToken(m, line, loc[0], loc[1]); ok {
			toks = append(toks, t)
		}
	}
	sort.SliceStable(toks, func(i, j int) bool { return toks[i].start < toks[j].start })
	return toks
}

// digitTokens judges a run of digit groups m[s:e].
func digitTokens(m, line string, s, e int) []token {
	if isWordRune(runeBefore(m, s)) || isWordRune(runeAfter(m, e)) {
		return nil
	}
	if numberContextRejects(m, s, e) {
		return nil
	}
	seq := m[s:e]
	var groups []string
	var offs []int
	dash := false
	start := 0
	for i := 0; i < len(seq); {
		r, size := utf8.DecodeRuneInString(seq[i:])
		if r < '0' || r > '9' {
			groups = append(groups, seq[start:i])
			offs = append(offs, start)
			if r != ' ' {
				dash = true
			}
			start = i + size
		}
		i += size
	}
	groups = append(groups, seq[start:])
	offs = append(offs, start)

	total := 0
	equal := true
	for _, g := range groups {
		total += len(g)
		if len(g) != len(groups[0]) {
			equal = false
		}
	}
	if len(groups) == 1 {
		if total >= 4 && total <= 8 {
			return []token{{start: s, end: e, raw: line[s:e], norm: seq, kind: tokDigits}}
		}
		return nil
	}
	if total > 8 {
		return nil // phone, card, account or meeting number
	}
	if equal && total >= 4 && len(groups[0]) <= 4 {
		return []token{{start: s, end: e, raw: line[s:e], norm: NormalizeCode(seq), kind: tokGrouped}}
	}
	if dash {
		return nil // 555-0199, 2024-05-12
	}
	var out []token
	for i, g := range groups {
		if len(g) >= 4 && len(g) <= 8 {
			gs := s + offs[i]
			out = append(out, token{start: gs, end: gs + len(g), raw: g, norm: g, kind: tokDigits, adjacent: true})
		}
	}
	return out
}

// numberContextRejects tells numbers that are prices, decimals, times,
// dates, fractions, phone numbers, percentages or "#" references.
func numberContextRejects(m string, s, e int) bool {
	b := runeBefore(m, s)
	a := runeAfter(m, e)
	switch b {
	case '#', '+', '/', '\\', '№', '@', '=', '&', '?':
		return true
	case '.', ',', ':', '-', '–':
		if unicode.IsDigit(runeBefore(m, s-1)) {
			return true
		}
	}
	switch a {
	case '%', '/', '€', '$', '£', '¥', '°', '@':
		return true
	case '.', ',', ':', '-', '–':
		if unicode.IsDigit(runeAfter(m, e+1)) {
			return true
		}
	}
	before := m[max(0, s-6):s]
	if currencyBeforeRe.MatchString(before) {
		return true
	}
	return false
}

// alnumToken judges a run of capitals and digits m[s:e].
func alnumToken(m, line string, s, e int) (token, bool) {
	if isWordRune(runeBefore(m, s)) || isWordRune(runeAfter(m, e)) {
		return token{}, false
	}
	if b := runeBefore(m, s); b == '#' || b == '/' || b == '=' || b == '&' || b == '?' || b == '@' {
		return token{}, false
	}
	seq := m[s:e]
	hasDigit, hasLetter := false, false
	for _, r := range seq {
		if r >= '0' && r <= '9' {
			hasDigit = true
		} else if r >= 'A' && r <= 'Z' {
			hasLetter = true
		}
	}
	if !hasDigit || !hasLetter {
		return token{}, false
	}
	groups := strings.Split(seq, "-")
	norm := strings.Join(groups, "")
	if len(norm) < 5 || len(norm) > 12 {
		return token{}, false
	}
	if len(groups) > 1 {
		if len(groups) > 4 {
			return token{}, false
		}
		for _, g := range groups {
			if len(g) < 2 || len(g) > 6 {
				return token{}, false
			}
		}
	}
	if alnumStopRe.MatchString(norm) {
		return token{}, false
	}
	return token{start: s, end: e, raw: line[s:e], norm: norm, kind: tokAlnum}, true
}

// kwMatch is a keyword found on a line.
type kwMatch struct {
	start, end int
	strength   int // 2 strong, 1 medium, -1 negative
}

// keywords finds the code keywords and the distractor words of a line.
func keywords(line string) []kwMatch {
	return keywordsFrom(line, strongKeywords(line))
}

// strongKeywords finds the code keywords (strength 2, or -1 for "promo
// code" and the like) of a line, in order.
func strongKeywords(line string) []kwMatch {
	if len(line) > maxLineBytes {
		line = TruncateUTF8(line, maxLineBytes)
	}
	if !mayHaveStrongKeyword(line) {
		return nil
	}
	var out []kwMatch
	for _, loc := range strongKwWS.findAll(line) {
		out = append(out, kwMatch{loc[0], loc[1], strongKeywordStrength(line, loc[0], loc[1])})
	}
	return out
}

// strongKeywordStrength is 2 for the strong keyword line[s:e], or -1 when
// the "code" it names is not a verification code.
func strongKeywordStrength(line string, s, e int) int {
	w := strings.ToLower(line[s:e])
	if strings.HasSuffix(w, "code") || strings.HasSuffix(w, "codes") || strings.HasPrefix(w, "c") || strings.HasPrefix(w, "ko") {
		// "promo code", "postcode", "código postal", "code of conduct"
		if notCodeWords[w] || codeModifierRe.MatchString(line[:s]) || codeFollowerRe.MatchString(line[e:]) {
			return -1
		}
	}
	return 2
}

// keywordsFrom adds the medium and distractor words of a line to its
// strong keywords (as strongKeywords returns them).
func keywordsFrom(line string, strong []kwMatch) []kwMatch {
	if len(line) > maxLineBytes {
		line = TruncateUTF8(line, maxLineBytes)
	}
	out := append([]kwMatch(nil), strong...)
	if mayHaveMediumKeyword(line) {
		for _, loc := range mediumKwWS.findAll(line) {
			out = append(out, kwMatch{loc[0], loc[1], 1})
		}
	}
	if mayHaveNegativeKeyword(line) {
		for _, loc := range negativeKwWS.findAll(line) {
			out = append(out, kwMatch{loc[0], loc[1], -1})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// hasCodeKeyword tells a line that speaks of a verification code.
func hasCodeKeyword(c *lineCache, line string) bool {
	for _, k := range c.strongKeywords(line) {
		if k.strength == 2 {
			return true
		}
	}
	return false
}

// lineKeywordStrength sums up a line's keywords when it holds no token of
// its own: 2 (strong), 1 (medium), -1 (its last word is a distractor), 0.
func lineKeywordStrength(c *lineCache, line string) int {
	kws := c.keywords(line)
	if len(kws) == 0 {
		return 0
	}
	best := 0
	for _, k := range kws {
		if k.strength > best {
			best = k.strength
		}
	}
	if kws[len(kws)-1].strength < 0 && best < 2 {
		return -1
	}
	if kws[len(kws)-1].strength < 0 {
		return 1
	}
	return best
}

// isStandalone tells a token that is all its line holds (quote markers and
// punctuation aside).
func isStandalone(line string, t token) bool {
	rest := unquoteLine(line[:t.start]) + " " + line[t.end:]
	return alnumCount(rest, 1) == 0
}

// codeSource is one text in which codes are looked for.
type codeSource struct {
	lines   []string
	subject bool
	// secondary sources (the unstripped texts) only count for codes absent
	// from the subject and the extracted text, at a penalty.
	secondary bool
	penalty   int
}

type candidate struct {
	norm    string
	score   int
	context string
	order   int
	count   int
}

// ExtractCodes returns the candidate verification codes of a message,
// best first, from its subject and text (the text an LLM reads, as
// ExtractText returns it).
func ExtractCodes(subject, text string) []mailmsg.Code {
	return extractCodes(newLineCache(), cleanHeader(subject), normalizeText(text), nil, nil)
}

// extractCodes ranks the code candidates of the subject and the extracted
// text; secondary holds other texts of the message (the text alternative
// of an HTML message, the unstripped texts) with the penalty their
// candidates get.
func extractCodes(cache *lineCache, subject, extracted string, secondary []codeSource, emph []string) []mailmsg.Code {
	emphSet := map[string]bool{}
	for _, e := range emph {
		emphSet[NormalizeCode(e)] = true
	}
	sources := append([]codeSource{
		{lines: []string{subject}, subject: true},
		{lines: splitLines(extracted)},
	}, secondary...)
	cands := map[string]*candidate{}
	order := 0
	for _, src := range sources {
		forwarded := false
		nonEmpty := 0
		for i, line := range src.lines {
			if line == "" {
				continue
			}
			nonEmpty++
			if mayBeForwardStart(line) && forwardStartRe.MatchString(line) {
				forwarded = true
			}
			if len(line) > maxLineBytes {
				line = TruncateUTF8(line, maxLineBytes)
			}
			toks := cache.tokens(line)
			if len(toks) == 0 {
				continue
			}
			if len(toks) > maxTokensPerLine {
				toks = toks[:maxTokensPerLine]
			}
			kws := cache.keywords(line)
			for ti, t := range toks {
				score := scoreToken(cache, src, i, nonEmpty, line, toks, ti, kws, emphSet)
				if forwarded {
					score -= 5
				}
				c := cands[t.norm]
				if src.secondary {
					if c != nil && c.count > 0 {
						continue // seen in the message proper
					}
					score -= src.penalty
				}
				if c == nil {
					c = &candidate{norm: t.norm, score: score, order: order}
					order++
					cands[t.norm] = c
					c.context = codeContext(src.lines, i, t)
				} else if score > c.score {
					c.score = score
					c.context = codeContext(src.lines, i, t)
				}
				if !src.secondary {
					c.count++
				}
			}
		}
	}
	var list []*candidate
	for _, c := range cands {
		if c.count > 1 {
			c.score += min(c.count-1, 2)
		}
		if c.score >= minCodeScore {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].score != list[j].score {
			return list[i].score > list[j].score
		}
		return list[i].order < list[j].order
	})
	var out []mailmsg.Code
	for _, c := range list {
		if len(out) == maxCodesOutput {
			break
		}
		out = append(out, mailmsg.Code{Code: c.norm, Context: c.context})
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > maxCodeLines {
		lines = lines[:maxCodeLines]
	}
	return lines
}

// scoreToken scores one occurrence of a token.
func scoreToken(cache *lineCache, src codeSource, li, nonEmpty int, line string, toks []token, ti int, kws []kwMatch, emph map[string]bool) int {
	t := toks[ti]
	score := 0
	switch t.kind {
	case tokDigits, tokGrouped:
		score = 2
		if len(t.norm) == 6 {
			score = 3
		}
	case tokAlnum:
		score = 1
		if strings.Contains(t.raw, "-") {
			score = 2
		}
	}
	if t.adjacent {
		score -= 2
	}

	// Years, quantities, addresses.
	if t.kind == tokDigits && len(t.norm) == 4 {
		if y, _ := strconv.Atoi(t.norm); y >= 1900 && y <= 2099 {
			score -= 4
			if monthRe.MatchString(line) {
				score -= 10
			}
		}
	}
	if t.kind != tokAlnum && unitAfterRe.MatchString(line[t.end:]) {
		score -= 6
	}
	if cache.isAddressLine(line) {
		score -= 5
	}

	// Keywords on the line, between the token and its neighbour tokens:
	// before it (the nearest distractor wins, else the strongest keyword
	// within reach), else after it.
	prevEnd := 0
	if ti > 0 {
		prevEnd = toks[ti-1].end
	}
	nextStart := len(line)
	if ti+1 < len(toks) {
		nextStart = toks[ti+1].start
	}
	bestBefore, nearestBefore := 0, 0
	afterFirst := 0
	afterMedium := false
	for _, kw := range kws {
		if kw.end <= t.start && kw.start >= prevEnd && t.start-kw.end <= 80 {
			nearestBefore = kw.strength
			if kw.strength > bestBefore {
				bestBefore = kw.strength
			}
		}
		if kw.start >= t.end && kw.end <= nextStart && kw.start-t.end <= 50 {
			if kw.strength == 1 {
				afterMedium = true
			} else if afterFirst == 0 {
				afterFirst = kw.strength
			}
		}
	}
	gotKeyword := true
	switch {
	case nearestBefore < 0:
		score -= 8
		gotKeyword = false
	case bestBefore == 2:
		score += 6
	case afterFirst == 2:
		score += 5
	case bestBefore == 1:
		score += 3
	case afterFirst < 0:
		score -= 3
		gotKeyword = false
	case afterMedium:
		score++
		gotKeyword = false
	default:
		gotKeyword = false
	}
	strongElsewhere, negativeElsewhere := false, false
	for _, kw := range kws {
		inReach := (kw.end <= t.start && kw.start >= prevEnd && t.start-kw.end <= 80) ||
			(kw.start >= t.end && kw.end <= nextStart && kw.start-t.end <= 50)
		if inReach {
			continue
		}
		if kw.strength == 2 {
			strongElsewhere = true
		}
		if kw.strength < 0 {
			negativeElsewhere = true
		}
	}
	if !gotKeyword && strongElsewhere && nearestBefore >= 0 {
		score += 2
		gotKeyword = true
	}
	if negativeElsewhere {
		score -= 2
	}

	standalone := isStandalone(line, t)
	// The lines around: "Your verification code:" above a code alone.
	if !src.subject && !gotKeyword {
		weights := [2]int{4, 2}
		for j, seen := li-1, 0; j >= 0 && seen < 2; j-- {
			pl := src.lines[j]
			if pl == "" {
				continue
			}
			if len(cache.tokens(pl)) > 0 {
				break // that line's keywords are for its own numbers
			}
			s := lineKeywordStrength(cache, pl)
			if s == 2 {
				score += weights[seen]
				break
			}
			if s == 1 {
				score += weights[seen] / 2
				break
			}
			if s < 0 {
				if seen == 0 {
					score -= 6
				}
				break
			}
			seen++
		}
		for j := li + 1; j < len(src.lines) && j <= li+2; j++ {
			nl := src.lines[j]
			if nl == "" {
				continue
			}
			if len(cache.tokens(nl)) == 0 && lineKeywordStrength(cache, nl) == 2 {
				score += 2
			}
			break
		}
	}
	if standalone {
		score += 3
	}
	if emph[t.norm] {
		score += 3
	}
	if src.subject {
		score += 2
	} else if !src.secondary {
		switch {
		case nonEmpty <= 4:
			score += 2
		case nonEmpty <= 12:
			score++
		}
	}
	return score
}

// codeContext is the text around a code: its line, with the line before
// when the line is short ("Your code:" / "739142").
func codeContext(lines []string, i int, t token) string {
	line := lines[i]
	ctx := line
	if utf8.RuneCountInString(unquoteLine(line)) < 30 {
		for j := i - 1; j >= 0 && j >= i-2; j-- {
			if lines[j] != "" {
				ctx = lines[j] + " " + line
				break
			}
		}
	}
	ctx = strings.TrimSpace(ctx)
	if len(ctx) > 200 {
		// A window around the token.
		pos := strings.Index(ctx, t.raw)
		if pos < 0 {
			pos = 0
		}
		from := max(0, pos-100)
		for from > 0 && !utf8.RuneStart(ctx[from]) {
			from--
		}
		ctx = TruncateUTF8(ctx[from:], 200)
		if from > 0 {
			ctx = "…" + ctx
		}
	}
	return ctx
}
