package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/harness"
)

// docs/architecture.md names, for every invariant, the tests that guard
// it, and docs/deploy.md the tests behind what it says: each name must be
// a test or fuzz target that exists.
func TestDocsNameRealTests(t *testing.T) {
	root := harness.RepoRoot(t)
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".data" || d.Name() == "node_modules" || d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name    string
		atLeast int
	}{{"architecture.md", 20}, {"deploy.md", 10}} {
		t.Run(d.name, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(root, "docs", d.name))
			if err != nil {
				t.Fatal(err)
			}
			named := regexp.MustCompile("`((?:Test|Fuzz)[A-Z]\\w+)`").FindAllStringSubmatch(string(doc), -1)
			if len(named) < d.atLeast {
				t.Fatalf("docs/%s names only %d tests", d.name, len(named))
			}
			for _, m := range named {
				if !defined[m[1]] {
					t.Errorf("docs/%s names %s, which no _test.go defines", d.name, m[1])
				}
			}
		})
	}
}
