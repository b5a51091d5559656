// Package refanalyse is a frozen copy of mailparse's content analysis
// (Analyse and what it calls) as it was before the analysis was optimised
// for speed. It exists only as the reference of mailparse's differential
// tests (FuzzAnalyseReference): the optimised code must give exactly the
// same results. Do not change it, and do not use it elsewhere.
package refanalyse

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

var wsRun = regexp.MustCompile(`[\s\x00]+`)

func cleanHeader(s string) string {
	s = toValidUTF8(s)
	s = wsRun.ReplaceAllString(s, " ")
	return strings.TrimSpace(s)
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
