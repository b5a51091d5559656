package mailparse

// isFooterLine tells a footer or postal address line, memoised:
// stripBoilerplate looks at the same lines twice.
func (c *lineCache) isFooterLine(l string) bool {
	if len(l) > 2000 {
		return false
	}
	if c == nil {
		return (mayBeFooter(l) && footerRe.MatchString(l)) || isAddressLine(l)
	}
	return memo(c.footer, l, func(l string) bool { return (mayBeFooter(l) && footerRe.MatchString(l)) || c.isAddressLine(l) })
}

// isAddressLine memoised: scoreToken and stripFooter ask about the same
// lines.
func (c *lineCache) isAddressLine(l string) bool {
	if c == nil {
		return isAddressLine(l)
	}
	return memo(c.addr, l, isAddressLine)
}
