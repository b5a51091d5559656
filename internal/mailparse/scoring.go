package mailparse

import (
	"regexp"
	"strconv"
	"strings"
)

// A candidate's score adds up the evidence about one occurrence of it; the
// weights below say what each piece of evidence is worth. A candidate is
// reported from minCodeScore, so a six-digit number needs a keyword, a
// place of its own or an emphasis to be reported.

// minCodeScore is the lowest score a candidate is reported with.
const minCodeScore = 5

// The token's shape.
const (
	weightDigits      = 2  // digits, alone or in equal groups: how most codes look
	weightSixDigits   = 3  // six digits: the commonest code length (instead of weightDigits)
	weightAlnum       = 1  // capitals and digits: codes, but also product and model names
	weightAlnumDashed = 2  // capitals and digits in dashed groups, as codes are set: K7Q-2MX
	weightAdjacent    = -2 // one of several numbers in a row: "482913 2025"
)

// What else the number may be.
const (
	weightYear        = -4  // four digits from 1900 to 2099: perhaps a year
	weightYearInDate  = -10 // …on a line that names a month, a weekday or a copyright: a date
	weightUnitAfter   = -6  // a unit or currency after it: a quantity or a price
	weightAddressLine = -5  // on a postal address line: a house number or post code
)

// The keywords of the token's own line.
const (
	reachBefore = 80 // bytes from a keyword before a token to the token
	reachAfter  = 50 // bytes from a token to a keyword after it

	weightDistractorBefore    = -8 // the nearest keyword before it is a distractor: "Order 482913"
	weightStrongBefore        = 6  // a code keyword before it: "Your code: 739142"
	weightStrongAfter         = 5  // a code keyword after it: "739142 is your code"
	weightMediumBefore        = 3  // a weaker keyword before it: "Enter 739142"
	weightDistractorAfter     = -3 // a distractor after it: "482913 (order)"
	weightMediumAfter         = 1  // a weaker keyword after it, not counted as a keyword: "739142 expires soon"
	weightStrongElsewhere     = 2  // a code keyword on the line, out of reach
	weightDistractorElsewhere = -2 // a distractor on the line, out of reach
)

// The lines around a token whose own line has no keyword in reach.
const (
	linesAbove = 2 // non-empty lines looked at above
	linesBelow = 2 // lines looked at below, for the first non-empty one

	weightStrongLineAbove     = 4  // "Your verification code:" right above a code
	weightStrongLineTwoAbove  = 2  // …one line further up
	weightMediumLineAbove     = 2  // "Enter this:" right above it
	weightMediumLineTwoAbove  = 1  // …one line further up
	weightDistractorLineAbove = -6 // "Order number:" right above it
	weightStrongLineBelow     = 2  // "is your verification code" on the line below
)

// Where the token stands.
const (
	weightStandalone = 3  // alone on its line, as codes are set
	weightEmphasised = 3  // set in large, bold, spaced or monospace type
	weightInSubject  = 2  // in the subject: "Your code is 739142"
	weightNearTop    = 2  // in the first nearTopLines non-empty lines of the text
	weightUpperPart  = 1  // in the first upperPartLines, below those
	weightForwarded  = -5 // below the start of a forwarded message: someone else's code
	nearTopLines     = 4
	upperPartLines   = 12

	maxRepeatBonus = 2 // a code found again in the message gains a point a time, up to this
)

// The other texts of a message, in which a code counts only when the
// subject and the extracted text do not hold it.
const (
	weightTextAlternative = -2 // in the text alternative of an HTML message
	weightUnstripped      = -6 // in a quoted reply or a footer the extracted text leaves out
)

// monthRe matches the words that make a year-like number part of a date:
// months and weekdays (English, German, Spanish, French), "since",
// "founded", a copyright mark.
var monthRe = regexp.MustCompile(`(?i)\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lunes|martes|miércoles|jueves|viernes|sábado|domingo|since|est\.|established|founded)\b|©|\(c\)|copyright`)

// monthWords is monthRe as an altRe matcher.
var monthWords = newAltRe(monthRe)

// unitAfterRe matches a unit or currency right after a number.
var unitAfterRe = regexp.MustCompile(`(?i)^\s?(?:` + unitWords + `)`)

const unitWords = `%|percent|per ?cent|mb|gb|kb|tb|px|pts?\b|points|punkte|puntos|miles|meilen|km|kg|lbs?\b|users|items|words|characters|chars|bytes|dpi|mah|hz|years?|yrs?\b|months?|weeks?|days?|hours?|hrs?\b|h\b|minutes?|mins?\b|seconds?|secs?\b|times|x\b|am\b|pm\b|uhr\b|jahre?n?\b|tage?n?\b|stunden?\b|minuten?\b|años?\b|d[ií]as?\b|horas?\b|minutos?\b|usd|eur|gbp|chf|jpy|cad|aud|mxn|dollars?|euros?|€|\$|£|¥|₹|steps|calories|kcal|followers|views|likes|reviews|ratings?|stars|subscribers|members|employees|people|downloads|installs|sq\b|ft\b|m²|m2\b|qm\b|ms\b`

// unitAt is unitAfterRe without its optional space, as an altRe matcher.
var unitAt = newAltRe(regexp.MustCompile(`(?i)^(?:` + unitWords + `)`))

// hasUnitAfter is unitAfterRe.MatchString(rest): a unit at its start, or
// after one white-space character.
func hasUnitAfter(rest string) bool {
	// A match and the character after it lie in the first bytes.
	rest = TruncateUTF8(rest, maxWordWindow+1)
	return unitAt.MatchString(rest) || (rest != "" && isReSpace(rest[0]) && unitAt.MatchString(rest[1:]))
}

// maxWordWindow bounds the bytes a unit, currency or code-modifier word and
// the characters on either side of it take (fastpath_test.go checks it).
const maxWordWindow = 32

// occurrence is one token where it was found: what scoreToken reads.
type occurrence struct {
	src      codeSource
	lineIdx  int       // the line's index in src.lines
	nonEmpty int       // the non-empty lines of src up to the line, the line included
	line     string    // the line, cut to maxLineBytes
	toks     []token   // the tokens of the line (at most maxTokensPerLine)
	ti       int       // which of toks it is
	kws      []kwMatch // the keywords of the line
}

func (o occurrence) token() token { return o.toks[o.ti] }

// scoreToken scores one occurrence of a token, in five steps:
//
//  1. its shape (shapeWeight);
//  2. what else the number may be: a year, a quantity, part of a postal
//     address (otherMeaningWeight);
//  3. the keywords of its line, near it or elsewhere (lineKeywordWeight);
//  4. when none of them speaks of it, the keywords of the lines around
//     (nearbyLinesWeight; not for the subject);
//  5. where it stands: alone on its line, emphasised, in the subject,
//     near the top (placeWeight).
func scoreToken(cache *lineCache, o occurrence, emph map[string]bool) int {
	score := shapeWeight(o.token())
	score += otherMeaningWeight(cache, o)
	kw, spokenOf := lineKeywordWeight(o)
	score += kw
	if !o.src.subject && !spokenOf {
		score += nearbyLinesWeight(cache, o)
	}
	return score + placeWeight(o, emph)
}

// shapeWeight is what a token's shape says.
func shapeWeight(t token) int {
	w := 0
	switch t.kind {
	case tokDigits, tokGrouped:
		w = weightDigits
		if len(t.norm) == 6 {
			w = weightSixDigits
		}
	case tokAlnum:
		w = weightAlnum
		if strings.Contains(t.raw, "-") {
			w = weightAlnumDashed
		}
	}
	if t.adjacent {
		w += weightAdjacent
	}
	return w
}

// otherMeaningWeight is the evidence that the number is something else:
// a year, a quantity or price, a house number or post code.
func otherMeaningWeight(cache *lineCache, o occurrence) int {
	t := o.token()
	w := 0
	if t.kind == tokDigits && len(t.norm) == 4 {
		if y, _ := strconv.Atoi(t.norm); y >= 1900 && y <= 2099 {
			w += weightYear
			if monthWords.MatchString(o.line) {
				w += weightYearInDate
			}
		}
	}
	if t.kind != tokAlnum && hasUnitAfter(o.line[t.end:]) {
		w += weightUnitAfter
	}
	if cache.isAddressLine(o.line) {
		w += weightAddressLine
	}
	return w
}

// reach is the part of a line whose keywords speak of a token: up to
// reachBefore bytes before it and reachAfter after it, and not past the
// tokens next to it.
type reach struct {
	t                  token
	prevEnd, nextStart int
}

func (o occurrence) reach() reach {
	r := reach{t: o.token(), nextStart: len(o.line)}
	if o.ti > 0 {
		r.prevEnd = o.toks[o.ti-1].end
	}
	if o.ti+1 < len(o.toks) {
		r.nextStart = o.toks[o.ti+1].start
	}
	return r
}

func (r reach) before(kw kwMatch) bool {
	return kw.end <= r.t.start && kw.start >= r.prevEnd && r.t.start-kw.end <= reachBefore
}

func (r reach) after(kw kwMatch) bool {
	return kw.start >= r.t.end && kw.end <= r.nextStart && kw.start-r.t.end <= reachAfter
}

// lineKeywordWeight is what the keywords of a token's line say of it, and
// whether one of them speaks of it as a code. Before the token, the nearest
// distractor wins, else the strongest keyword in reach; after it, the
// first strong or distractor keyword, and a medium one counts a little.
func lineKeywordWeight(o occurrence) (w int, spokenOf bool) {
	r := o.reach()
	bestBefore, nearestBefore := kwNone, kwNone
	firstAfter, mediumAfter := kwNone, false
	strongElsewhere, distractorElsewhere := false, false
	for _, kw := range o.kws {
		switch {
		case r.before(kw):
			nearestBefore = kw.strength
			bestBefore = max(bestBefore, kw.strength)
		case r.after(kw):
			if kw.strength == kwMedium {
				mediumAfter = true
			} else if firstAfter == kwNone {
				firstAfter = kw.strength
			}
		case kw.strength == kwStrong:
			strongElsewhere = true
		case kw.strength == kwDistractor:
			distractorElsewhere = true
		}
	}
	switch {
	case nearestBefore == kwDistractor:
		w = weightDistractorBefore
	case bestBefore == kwStrong:
		w, spokenOf = weightStrongBefore, true
	case firstAfter == kwStrong:
		w, spokenOf = weightStrongAfter, true
	case bestBefore == kwMedium:
		w, spokenOf = weightMediumBefore, true
	case firstAfter == kwDistractor:
		w = weightDistractorAfter
	case mediumAfter:
		w = weightMediumAfter
	}
	if !spokenOf && strongElsewhere && nearestBefore != kwDistractor {
		w += weightStrongElsewhere
		spokenOf = true
	}
	if distractorElsewhere {
		w += weightDistractorElsewhere
	}
	return w, spokenOf
}

// nearbyLinesWeight is what the lines around a token say of it: the
// keywords of the nearest non-empty lines above that hold no token of
// their own, and a code keyword on the next non-empty line below.
func nearbyLinesWeight(cache *lineCache, o occurrence) int {
	return aboveWeight(cache, o) + belowWeight(cache, o)
}

func aboveWeight(cache *lineCache, o occurrence) int {
	for j, seen := o.lineIdx-1, 0; j >= 0 && seen < linesAbove; j-- {
		pl := o.src.lines[j]
		if pl == "" {
			continue
		}
		if len(cache.tokens(pl)) > 0 {
			return 0 // that line's keywords are for its own numbers
		}
		switch lineKeywordStrength(cache, pl) {
		case kwStrong:
			return [linesAbove]int{weightStrongLineAbove, weightStrongLineTwoAbove}[seen]
		case kwMedium:
			return [linesAbove]int{weightMediumLineAbove, weightMediumLineTwoAbove}[seen]
		case kwDistractor:
			if seen == 0 {
				return weightDistractorLineAbove
			}
			return 0
		}
		seen++
	}
	return 0
}

func belowWeight(cache *lineCache, o occurrence) int {
	for j := o.lineIdx + 1; j < len(o.src.lines) && j <= o.lineIdx+linesBelow; j++ {
		nl := o.src.lines[j]
		if nl == "" {
			continue
		}
		if len(cache.tokens(nl)) == 0 && lineKeywordStrength(cache, nl) == kwStrong {
			return weightStrongLineBelow
		}
		return 0
	}
	return 0
}

// placeWeight is what the place of a token says: alone on its line, set
// apart in the HTML, in the subject or near the top of the text.
func placeWeight(o occurrence, emph map[string]bool) int {
	t := o.token()
	w := 0
	if isStandalone(o.line, t) {
		w += weightStandalone
	}
	if emph[t.norm] {
		w += weightEmphasised
	}
	switch {
	case o.src.subject:
		w += weightInSubject
	case o.src.secondary:
	case o.nonEmpty <= nearTopLines:
		w += weightNearTop
	case o.nonEmpty <= upperPartLines:
		w += weightUpperPart
	}
	return w
}
