package mailparse

import (
	"regexp"
	"strconv"
	"strings"
)

// minCodeScore is the lowest score a candidate is reported with.
const minCodeScore = 5

var (
	monthRe     = regexp.MustCompile(`(?i)\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lunes|martes|miércoles|jueves|viernes|sábado|domingo|since|est\.|established|founded)\b|©|\(c\)|copyright`)
	unitAfterRe = regexp.MustCompile(`(?i)^\s?(?:%|percent|per ?cent|mb|gb|kb|tb|px|pts?\b|points|punkte|puntos|miles|meilen|km|kg|lbs?\b|users|items|words|characters|chars|bytes|dpi|mah|hz|years?|yrs?\b|months?|weeks?|days?|hours?|hrs?\b|h\b|minutes?|mins?\b|seconds?|secs?\b|times|x\b|am\b|pm\b|uhr\b|jahre?n?\b|tage?n?\b|stunden?\b|minuten?\b|años?\b|d[ií]as?\b|horas?\b|minutos?\b|usd|eur|gbp|chf|jpy|cad|aud|mxn|dollars?|euros?|€|\$|£|¥|₹|steps|calories|kcal|followers|views|likes|reviews|ratings?|stars|subscribers|members|employees|people|downloads|installs|sq\b|ft\b|m²|m2\b|qm\b|ms\b)`)
)

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
