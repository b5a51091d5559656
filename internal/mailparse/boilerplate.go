package mailparse

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// StripBoilerplate removes, from the end of a message's text, legal
// footers and boilerplate (unsubscribe, privacy, "you received this email
// because", copyright, postal addresses, social links), a "-- " signature
// and a closing sign-off ("Thanks, The Acme Team"). A line that holds a
// verification code is never removed, nor anything before it.
func StripBoilerplate(s string) string {
	return stripBoilerplate(newLineCache(), s)
}

func stripBoilerplate(cache *lineCache, s string) string {
	lines := strings.Split(normalizeText(s), "\n")
	// The strippers only ever cut lines off the end, so the last line that
	// holds a code stays where it is.
	protect := protectedFrom(cache, lines)
	lines = stripFooter(cache, lines, protect)
	lines = stripSignature(lines, protect)
	lines = stripSignOff(lines, protect)
	lines = stripFooter(cache, lines, protect)
	return normalizeText(strings.Join(lines, "\n"))
}

// protectedFrom returns the index of the last line that holds a likely
// verification code, or -1.
func protectedFrom(cache *lineCache, lines []string) int {
	for i := len(lines) - 1; i >= 0; i-- {
		if lineHoldsCode(cache, lines, i) {
			return i
		}
	}
	return -1
}

// lineHoldsCode: a code-like token on a line with a code keyword, or a
// line that is nothing but a code-like token after such a line.
func lineHoldsCode(cache *lineCache, lines []string, i int) bool {
	l := lines[i]
	if len(l) > maxLineBytes {
		l = TruncateUTF8(l, maxLineBytes)
	}
	toks := cache.tokens(l)
	if len(toks) == 0 {
		return false
	}
	if hasCodeKeyword(cache, l) {
		return true
	}
	for _, t := range toks {
		if isStandalone(l, t) {
			for j, seen := i-1, 0; j >= 0 && seen < 2; j-- {
				if lines[j] == "" {
					continue
				}
				seen++
				if hasCodeKeyword(cache, TruncateUTF8(lines[j], maxLineBytes)) {
					return true
				}
			}
		}
	}
	return false
}

// footerRe matches a footer line: unsubscribe and preference links, legal
// and privacy notices, "you received this email because", copyright and
// company forms, "view in browser", no-reply notes, app and social links.
var footerRe = regexp.MustCompile(`(?i)unsubscri|\bopt[- ]?out\b|abmelden|abbestellen|darse de baja|dar(?:te)? de baja|cancelar (?:la |tu )?suscripci|d[ée]sabonner|d[ée]sinscri|email preferences|e-mail preferences|manage (?:your )?(?:preferences|notifications|subscriptions|emails?|settings)|notification settings|privacy|datenschutz|privacidad|confidentialit|terms of (?:service|use)|terms (?:&|and) conditions|\bterms\b|nutzungsbedingungen|\bagb\b|impressum|aviso legal|legal notice|t[ée]rminos|you(?:'re| are) receiving this|you received this|this (?:e-?mail|message|notification) (?:was|has been|is) (?:sent|intended)|sent (?:to|by) [^ ]+@|diese (?:e-?mail|nachricht) wurde|sie erhalten diese|este (?:correo|mensaje|e-?mail) (?:fue|ha sido|se) (?:enviado|envi[óo])|has recibido este|recibes este|©|\(c\)\s*\d{4}|copyright|all rights reserved|alle rechte vorbehalten|todos los derechos reservados|tous droits r[ée]serv[ée]s|registered (?:office|in|trademark)|\b(?:inc|llc|ltd|gmbh|plc|corp|ag|kg)\b\.?(?:\s|,|$)|\bs\.[la]\.(?:u\.)?|\bb\.v\.|view (?:it |this )?(?:e-?mail |message )?in (?:your |a )?browser|view (?:this )?(?:e-?mail )?online|help cent(?:er|re)|contact us|kontakt|contáctanos|do not reply|don't reply|no[- ]?reply|please do not respond|this is an automated|automatically generated|mailbox is not monitored|not monitored|download (?:the|our) app|follow us|app store|google play|sent from my|get the app|powered by`)

// footer is footerRe as an altRe matcher.
var footer = newAltRe(footerRe)

func stripFooter(cache *lineCache, lines []string, protect int) []string {
	cut := len(lines)
	for i := len(lines) - 1; i > protect; i-- {
		l := lines[i]
		if cache.isFooterLine(l) {
			cut = i
			continue
		}
		if isFillerLine(cache, l) {
			continue
		}
		break
	}
	if cut == 0 {
		// Everything looked like a footer: keep it rather than nothing.
		return lines
	}
	return lines[:cut]
}

// isFillerLine: blank, punctuation, a bare URL, or a few short words
// (social links, "Help | Privacy").
func isFillerLine(cache *lineCache, l string) bool {
	if l == "" || (mayBeURLOnly(l) && urlOnlyRe.MatchString(l)) {
		return true
	}
	if alnumCount(l, 1) == 0 {
		return true
	}
	if utf8.RuneCountInString(l) <= 40 && len(strings.Fields(l)) <= 5 && len(cache.tokens(l)) == 0 {
		return true
	}
	return false
}

// urlOnlyRe matches a line that is nothing but a URL.
var urlOnlyRe = regexp.MustCompile(`(?i)^[<(\[]?(?:https?://|www\.)\S+[>)\]]?$`)

// urlOnlyRe is anchored: an optional "<", "(" or "[", then http or www
// (whose letters (?i) folds with their ASCII case only).
func mayBeURLOnly(l string) bool {
	if l != "" && (l[0] == '<' || l[0] == '(' || l[0] == '[') {
		l = l[1:]
	}
	return l != "" && (l[0]|0x20 == 'h' || l[0]|0x20 == 'w')
}

func stripSignature(lines []string, protect int) []string {
	for i := len(lines) - 1; i > protect && i > 0; i-- {
		if lines[i] != "--" && lines[i] != "-- " {
			continue
		}
		if nonEmptyCount(lines[i+1:]) <= 15 {
			return lines[:i]
		}
		break
	}
	return lines
}

func nonEmptyCount(lines []string) int {
	n := 0
	for _, l := range lines {
		if l != "" {
			n++
		}
	}
	return n
}

// signOffRe matches a closing line: "Thanks,", "Best regards",
// "Mit freundlichen Grüßen", "Saludos".
var signOffRe = regexp.MustCompile(`(?i)^(?:thanks|thank you|many thanks|thanks again|thanks so much|cheers|best|best wishes|best regards|kind regards|warm regards|warmly|regards|sincerely|yours sincerely|yours truly|all the best|talk soon|see you soon|happy \w+ing|mit freundlichen gr[üu](?:ß|ss)en|freundliche gr[üu](?:ß|ss)e|viele gr[üu](?:ß|ss)e|beste gr[üu](?:ß|ss)e|liebe gr[üu](?:ß|ss)e|gr[üu](?:ß|ss)e|saludos|un saludo|saludos cordiales|atentamente|cordialmente|cordialement|bien [àa] vous|merci|gracias|danke)\s*[,!.]*$`)

// mayBeSignOff: signOffRe is a phrase of at most 25 bytes, or "happy
// \w+ing", then \s*[,!.]*. (Non-ASCII text always goes to the expression.)
func mayBeSignOff(l string) bool {
	if !isASCII(l) {
		return true
	}
	core := strings.TrimRight(l, ",!. \t\n\f\r")
	return len(core) <= 30 || (len(l) >= 6 && equalFoldASCII(l[:6], "happy "))
}

// teamRe matches a signature that names a team: "The Acme Team", "Das
// Acme-Team", "El equipo de Acme", "L'équipe Acme".
var teamRe = regexp.MustCompile(`(?i)^[-—–~\s]*(?:the\s.{1,40}\steams?|[\p{L}\p{N}.&' ]{1,40}\steams?|(?:das|dein|ihr|euer)\s.{1,40}[-\s]team|el equipo(?: de)?\s.{1,40}|l['’][ée]quipe\s.{1,40}|team\s.{1,40})\s*[.!]?$`)

// mayBeTeam: every alternative of teamRe holds "team", "equipo" or "quipe"
// (letters (?i) folds with their ASCII case only).
func mayBeTeam(l string) bool {
	if !isASCII(l) {
		return true
	}
	return containsFoldASCII(l, "team") || containsFoldASCII(l, "equipo") || containsFoldASCII(l, "quipe")
}

func stripSignOff(lines []string, protect int) []string {
	cut := -1
	for i, seen := len(lines)-1, 0; i > protect && i > 0 && seen < 5; i-- {
		if lines[i] == "" {
			continue
		}
		seen++
		if (mayBeSignOff(lines[i]) && signOffRe.MatchString(lines[i])) ||
			(len(lines[i]) <= 60 && mayBeTeam(lines[i]) && teamRe.MatchString(lines[i])) {
			cut = i
		}
	}
	if cut > 0 {
		return lines[:cut]
	}
	return lines
}
