package mailparse

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Caps on the lines the code search reads and the codes it reports.
const (
	maxCodeLines   = 3000
	maxCodesOutput = 10
)

// codeSource is one text in which codes are looked for.
type codeSource struct {
	lines   []string
	subject bool
	// secondary sources (the other texts of a message) only count for
	// codes absent from the subject and the extracted text, with weight
	// added to their score.
	secondary bool
	weight    int
}

// candidate is a code found, with the best score of its occurrences.
type candidate struct {
	norm    string
	score   int
	context string
	order   int // when it was first found
	count   int // occurrences in the subject and the extracted text
}

// ExtractCodes returns the candidate verification codes of a message,
// best first, from its subject and text (the text an LLM reads, as
// ExtractText returns it).
func ExtractCodes(subject, text string) []mailmsg.Code {
	return extractCodes(newLineCache(), cleanHeader(subject), normalizeText(text), nil, nil)
}

// extractCodes ranks the code candidates of the subject and the extracted
// text; secondary holds other texts of the message (the text alternative
// of an HTML message, the unstripped texts), each with the weight its
// candidates get. emph holds the texts the HTML sets apart.
func extractCodes(cache *lineCache, subject, extracted string, secondary []codeSource, emph []string) []mailmsg.Code {
	f := candidateFinder{cache: cache, emph: map[string]bool{}, cands: map[string]*candidate{}}
	for _, e := range emph {
		f.emph[NormalizeCode(e)] = true
	}
	sources := append([]codeSource{
		{lines: []string{subject}, subject: true},
		{lines: splitLines(extracted)},
	}, secondary...)
	for _, src := range sources {
		f.scan(src)
	}
	return rankCandidates(f.cands)
}

// candidateFinder gathers the candidates of a message's texts.
type candidateFinder struct {
	cache *lineCache
	emph  map[string]bool
	cands map[string]*candidate
	order int
}

// scan scores every token of src and adds it to the candidates.
func (f *candidateFinder) scan(src codeSource) {
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
		toks := f.cache.tokens(line)
		if len(toks) == 0 {
			continue
		}
		if len(toks) > maxTokensPerLine {
			toks = toks[:maxTokensPerLine]
		}
		o := occurrence{src: src, lineIdx: i, nonEmpty: nonEmpty, line: line, toks: toks}
		kws := false
		for ti := range toks {
			if src.secondary && f.inMessage(toks[ti].norm) {
				continue // add would ignore it: no need to score it
			}
			if !kws {
				o.kws, kws = f.cache.keywords(line), true
			}
			o.ti = ti
			score := scoreToken(f.cache, o, f.emph)
			if forwarded {
				score += weightForwarded
			}
			f.add(o, score)
		}
	}
}

// inMessage tells a candidate found in the subject or the extracted text.
func (f *candidateFinder) inMessage(norm string) bool {
	c := f.cands[norm]
	return c != nil && c.count > 0
}

// add counts an occurrence of a candidate, keeping the context of its best
// one; a secondary source's occurrence counts only for a candidate the
// message proper does not hold.
func (f *candidateFinder) add(o occurrence, score int) {
	t := o.token()
	c := f.cands[t.norm]
	if o.src.secondary {
		if f.inMessage(t.norm) {
			return // seen in the message proper
		}
		score += o.src.weight
	}
	if c == nil {
		c = &candidate{norm: t.norm, score: score, order: f.order}
		f.order++
		f.cands[t.norm] = c
		c.context = codeContext(o.src.lines, o.lineIdx, t)
	} else if score > c.score {
		c.score = score
		c.context = codeContext(o.src.lines, o.lineIdx, t)
	}
	if !o.src.secondary {
		c.count++
	}
}

// rankCandidates returns the candidates that reach minCodeScore, a repeated
// one with its bonus, best first (the first found first among equals).
func rankCandidates(cands map[string]*candidate) []mailmsg.Code {
	var list []*candidate
	for _, c := range cands {
		if c.count > 1 {
			c.score += min(c.count-1, maxRepeatBonus)
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
