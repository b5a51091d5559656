package mailparse

// lineCache memoises the checks of a line (its tokens and keywords, whether
// it is a footer or an address line): the analysis of a message looks at
// the same lines many times. A nil *lineCache computes every time.
// fastpath_test.go holds each check to its rule.
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

// tokens memoises findTokens(line).
func (c *lineCache) tokens(line string) []token {
	if c == nil {
		return findTokens(line)
	}
	return memo(c.toks, line, findTokens)
}

// strongKeywords memoises strongKeywords(line).
func (c *lineCache) strongKeywords(line string) []kwMatch {
	if c == nil {
		return strongKeywords(line)
	}
	return memo(c.strong, line, strongKeywords)
}

// keywords memoises keywords(line), from the memoised strong keywords.
func (c *lineCache) keywords(line string) []kwMatch {
	if c == nil {
		return keywords(line)
	}
	return memo(c.kws, line, func(l string) []kwMatch { return keywordsFrom(l, c.strongKeywords(l)) })
}

// isFooterLine tells a footer or postal address line, memoised:
// stripBoilerplate looks at the same lines twice.
func (c *lineCache) isFooterLine(l string) bool {
	if len(l) > 2000 {
		return false
	}
	if c == nil {
		return footer.MatchString(l) || isAddressLine(l)
	}
	return memo(c.footer, l, func(l string) bool { return footer.MatchString(l) || c.isAddressLine(l) })
}

// isAddressLine memoised: scoreToken and stripFooter ask about the same
// lines.
func (c *lineCache) isAddressLine(l string) bool {
	if c == nil {
		return isAddressLine(l)
	}
	return memo(c.addr, l, isAddressLine)
}
