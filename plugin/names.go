package plugin

import (
	"fmt"
	"regexp"
	"strings"
)

// Path segments are captured broadly ([^/]+) and validated in the handler,
// so a bad name gets a 400 that names the field instead of Vault's 404
// "unsupported path".
const nameSegment = `[^/]+`

func namePattern(field string) string { return fmt.Sprintf("(?P<%s>%s)", field, nameSegment) }

var (
	// Agent names become the local part of an email address: lower-case
	// letters, digits, and . _ - inside; at most 64 characters (RFC 5321).
	agentNameRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$`)
	// Org names follow the same rule.
	orgNameRe = agentNameRe
	// Credential names are labels like "github.com" or "aws-console".
	credNameRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._@+-]{0,126}[A-Za-z0-9])?$`)
)

func validateName(field, value string, re *regexp.Regexp, max int) error {
	switch {
	case value == "":
		return fmt.Errorf("%s: must not be empty", field)
	case len(value) > max:
		return fmt.Errorf("%s: longer than %d characters", field, max)
	case strings.Contains(value, ".."):
		return fmt.Errorf("%s: %q must not contain \"..\"", field, value)
	case !re.MatchString(value):
		return fmt.Errorf("%s: %q has characters that are not allowed", field, value)
	}
	return nil
}

func validateAgentName(v string) error {
	if v != strings.ToLower(v) && validateName("agent", strings.ToLower(v), agentNameRe, 64) == nil {
		return fmt.Errorf("agent: %q must be lower case: it is the local part of an email address", v)
	}
	if err := validateName("agent", v, agentNameRe, 64); err != nil {
		return fmt.Errorf("%w (lower-case letters, digits, '.', '_', '-'; start and end with a letter or digit)", err)
	}
	return nil
}

func validateOrgName(v string) error {
	if err := validateName("org", v, orgNameRe, 64); err != nil {
		return fmt.Errorf("%w (lower-case letters, digits, '.', '_', '-'; start and end with a letter or digit)", err)
	}
	return nil
}

func validateCredName(v string) error {
	if err := validateName("cred", v, credNameRe, 128); err != nil {
		return fmt.Errorf("%w (letters, digits, '.', '_', '@', '+', '-'; start and end with a letter or digit)", err)
	}
	return nil
}

// validateDomain accepts a lower-case DNS host name with at least two
// labels, as used on the right of an email address.
func validateDomain(domain string) error {
	if domain == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(domain) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q must have at least two labels, like agents.example.com", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("%q has an empty or over-long label", domain)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q has a label that starts or ends with a hyphen", domain)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q may contain only letters, digits, hyphens and dots", domain)
			}
		}
	}
	return nil
}
