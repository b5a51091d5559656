package plugin

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
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

// checkText bounds a free-text field: valid UTF-8, no NUL, at most max bytes.
func checkText(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s: %d bytes, at most %d allowed", field, len(v), max)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return fmt.Errorf("%s: must be valid UTF-8 text", field)
	}
	return nil
}

// checkKV bounds a map field such as metadata or fields.
func checkKV(field string, m map[string]string, maxEntries, maxKey, maxValue int) error {
	if len(m) > maxEntries {
		return fmt.Errorf("%s: %d entries, at most %d allowed", field, len(m), maxEntries)
	}
	for k, v := range m {
		if k == "" {
			return fmt.Errorf("%s: keys must not be empty", field)
		}
		if err := checkText(field+" key", k, maxKey); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("%s.%s", field, k), v, maxValue); err != nil {
			return err
		}
	}
	return nil
}

// kvField reads a TypeKVPairs field, turning a conversion error into a
// message that names the field.
func kvField(d *framework.FieldData, field string) (map[string]string, bool, error) {
	raw, ok := d.Raw[field]
	if !ok {
		return nil, false, nil
	}
	if raw == nil {
		return map[string]string{}, true, nil
	}
	v, ok, err := d.GetOkErr(field)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %v", field, err)
	}
	if !ok || v == nil {
		return map[string]string{}, true, nil
	}
	return v.(map[string]string), true, nil
}

func joinComma(items []string) string { return strings.Join(items, ", ") }
