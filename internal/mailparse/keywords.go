package mailparse

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// kwMatch is a keyword found on a line.
type kwMatch struct {
	start, end int
	strength   int // kwStrong, kwMedium or kwDistractor
}

// What a keyword says of a number near it, weakest first (the strongest
// of several keywords is the one that counts).
const (
	kwDistractor = -1 // something else: "order", "phone", "promo code"
	kwNone       = 0  // nothing
	kwMedium     = 1  // perhaps a code: "enter", "use", "expires"
	kwStrong     = 2  // a code: "verification code", "OTP", "PIN"
)

// strongKwRe matches the words that make a nearby number a verification
// code: "verification", "one-time", "passcode", "código", "Bestätigungscode".
var strongKwRe = regexp.MustCompile(`(?i)\b(?:verif\w*|v[ée]rification|one[- ]?time|otp|pass\s?codes?|pins?|2fa|mfa|tan|two[- ](?:factor|step)|authenticat\w*|c[oó]digos?|codice|kod|kode|\w*codes?|einmal\w*|sicherheits\w*|best[äa]tigungs\w*|anmelde\w*|zugangs\w*|verifizierungs\w*)\b`)

// notCodeWords are "code" words that are not about verification.
var notCodeWords = map[string]bool{
	"postcode": true, "postcodes": true, "zipcode": true, "zipcodes": true, "barcode": true,
	"barcodes": true, "qrcode": true, "promocode": true, "promocodes": true, "decode": true,
	"encode": true, "unicode": true, "opcode": true, "geocode": true, "gutscheincode": true,
	"rabattcode": true, "aktionscode": true, "vouchercode": true, "discountcode": true,
	"couponcode": true, "giftcode": true, "trackingcode": true, "sourcecode": true,
}

// codeModifierRe and codeFollowerRe match the words before and after
// "code" that make it not a verification code: "promo code", "código
// postal", "code of conduct".
var (
	codeModifierRe = regexp.MustCompile(`(?i)(?:\b(?:` + codeModifierWords + `)\s*[-:]?\s*$)`)
	codeFollowerRe = regexp.MustCompile(`(?i)^\s*(?:postal|promo\w*|de (?:descuento|reserva|pedido|seguimiento|barras|env[ií]o|regalo|promoci[oó]n)|of conduct|reviews?|snippet|block|editor|repository|base|changes?)\b`)
)

const codeModifierWords = `promo|promotional|discount|coupon|voucher|gift|referral|zip|postal|post|area|country|qr|source|dress|tracking|bar|tax|sort|swift|bank|product|style|colou?r|html|error|status|reason|response|event|order|booking|reservation|reference|confirmation number|ref|invite|airport|currency|language|region|dial|iata|icao|sic|naics|hs|tariff|discount|rabatt|gutschein|aktions|descuento|cup[oó]n|regalo|promocional`

// codeModifierAtEnd is the word part of codeModifierRe, at the end.
var codeModifierAtEnd = newAltRe(regexp.MustCompile(`(?i)\b(?:` + codeModifierWords + `)$`))

// hasCodeModifier is codeModifierRe.MatchString(before): after the white
// space and one "-" or ":" it allows are cut from the end (none of the
// words ends in either), the text must end in one of the words.
func hasCodeModifier(before string) bool {
	t := strings.TrimRight(before, reSpaces)
	if t != "" && (t[len(t)-1] == '-' || t[len(t)-1] == ':') {
		t = strings.TrimRight(t[:len(t)-1], reSpaces)
	}
	// A match and the character before it lie in the last bytes.
	return codeModifierAtEnd.MatchString(lastRunes(t, maxWordWindow))
}

// lastRunes is the end of s, at most n bytes, from a rune start.
func lastRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

// reSpaces are the characters of Go's \s.
const reSpaces = "\t\n\f\r "

// strongKwAlts holds the literals of strongKwRe's alternatives: a line
// holding none of them holds no strong keyword.
var strongKwAlts = newAltPrefilter(strongKwRe)

func mayHaveStrongKeyword(l string) bool {
	return strongKwAlts.mayMatch(l)
}

// mediumKwRe matches the words that make a nearby number perhaps a code:
// "enter", "use", "is your", "expires", "eingeben", "saisissez".
var mediumKwRe = regexp.MustCompile(`(?i)\b(?:confirm\w*|enter|use|using|is your|type|paste|sign[- ]?in|log[- ]?in|login|token|expires?|valid|ingresa\w*|introduce\w*|utiliza\w*|usa|escribe|es tu|eingeben|gib|verwende\w*|lautet|ist ihr|ist dein|saisi\w*|saisissez|entrez|utilise\w*|est votre|inserisci|conferma\w*|confirma\w*|best[äa]tig\w*)\b`)

// mediumKwAlts holds the literals of mediumKwRe's alternatives.
var mediumKwAlts = newAltPrefilter(mediumKwRe)

func mayHaveMediumKeyword(l string) bool {
	return mediumKwAlts.mayMatch(l)
}

// negativeKwRe matches the words that make a nearby number something else:
// an order, invoice, phone, account, price, date or promotion.
var negativeKwRe = regexp.MustCompile(`(?i)(?:\border\w*|\binvoice\w*|\breceipt\w*|\bticket\w*|\bref\b\.?|\breference\w*|\breferencia\w*|\bcase\b|\bbooking\w*|\breservation\w*|\breserva\b|\baccount\s+(?:no|number|ending|id)\w*|\bacct\w*|\bcustomer\s+(?:no|number|id)\w*|\bmember\w*|\btransaction\w*|\btracking\w*|\bshipment\w*|\bparcel\w*|\bpackage\w*|\bphone\w*|\btel\b\.?|\btelephone\w*|\btel[ée]fono\w*|\btelefon\w*|\bfax\b|\bcall\b|\bwhatsapp\b|\bmobile\b|\bzip\b|\bpost ?codes?\b|\bpostal\b|\bplz\b|\bsuite\b|\bapt\b|\bunit\b|\bp\.?o\.? box\b|\bid\b|\bno\.|\bnr\.?|\bnum(?:ber|ero|éro|mer)\w*|\b\w+nummer\b|\bbestell\w*|\brechnung\w*|\bauftrag\w*|\bpedido\w*|\bfactura\w*|\bserial\w*|\bmodel\w*|\bversion\w*|\biban\b|\bbic\b|\bswift\b|\brouting\b|\bsort code\b|\bcard\w*|\bending in\b|\bends in\b|\blast (?:4|four)\b|\bflight\w*|\bseat\b|\bgate\b|\broom\b|\bextension\b|\bext\.|\bprice\w*|\btotal\w*|\bamount\w*|\bsubtotal\w*|\bpoints?\b|\bsku\b|\bitem\w*|\bqty\b|\bquantity\b|\bcopyright\b|©|\bpromo\w*|\bcoupon\w*|\bvoucher\w*|\bdiscount\w*|\bgift\w*|\bkundennr\b|\bmeeting\w*|\bconference\w*|\bdial\w*|\bbalance\w*|\bsaldo\b|\bloyalty\b|\brewards?\b)`)

// negativeKwAlts holds the literals of negativeKwRe's alternatives.
var negativeKwAlts = newAltPrefilter(negativeKwRe)

func mayHaveNegativeKeyword(l string) bool {
	return negativeKwAlts.mayMatch(l)
}

// The keyword expressions as wordStartRe matchers: the same matches,
// found faster.
var (
	strongKwWS   = newWordStartRe(strongKwRe, `\w*codes?`, "code")
	mediumKwWS   = newWordStartRe(mediumKwRe, "", "")
	negativeKwWS = newWordStartRe(negativeKwRe, `\b\w+nummer\b`, "nummer")
)

// keywords finds the code keywords and the distractor words of a line.
func keywords(line string) []kwMatch {
	return keywordsFrom(line, strongKeywords(line))
}

// strongKeywords finds the code keywords (kwStrong, or kwDistractor for
// "promo code" and the like) of a line, in order.
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

// strongKeywordStrength is kwStrong for the strong keyword line[s:e], or
// kwDistractor when the "code" it names is not a verification code.
func strongKeywordStrength(line string, s, e int) int {
	w := strings.ToLower(line[s:e])
	if strings.HasSuffix(w, "code") || strings.HasSuffix(w, "codes") || strings.HasPrefix(w, "c") || strings.HasPrefix(w, "ko") {
		// "promo code", "postcode", "código postal", "code of conduct"
		if notCodeWords[w] || hasCodeModifier(line[:s]) || codeFollowerRe.MatchString(line[e:]) {
			return kwDistractor
		}
	}
	return kwStrong
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
			out = append(out, kwMatch{loc[0], loc[1], kwMedium})
		}
	}
	if mayHaveNegativeKeyword(line) {
		for _, loc := range negativeKwWS.findAll(line) {
			out = append(out, kwMatch{loc[0], loc[1], kwDistractor})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// hasCodeKeyword tells a line that speaks of a verification code.
func hasCodeKeyword(c *lineCache, line string) bool {
	for _, k := range c.strongKeywords(line) {
		if k.strength == kwStrong {
			return true
		}
	}
	return false
}

// lineKeywordStrength sums up the keywords of a line that holds no token
// of its own: the strongest, unless its last word is a distractor, which
// makes it kwDistractor, or kwMedium after a strong keyword.
func lineKeywordStrength(c *lineCache, line string) int {
	kws := c.keywords(line)
	if len(kws) == 0 {
		return kwNone
	}
	best := kwNone
	for _, k := range kws {
		if k.strength > best {
			best = k.strength
		}
	}
	if kws[len(kws)-1].strength == kwDistractor && best < kwStrong {
		return kwDistractor
	}
	if kws[len(kws)-1].strength == kwDistractor {
		return kwMedium
	}
	return best
}
