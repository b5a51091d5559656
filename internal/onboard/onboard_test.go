package onboard

import "testing"

func TestSameRules(t *testing.T) {
	rendered := "# header\npath \"a\" { capabilities = [\"read\"] }\npath \"b\" { capabilities = [\"list\"] }\n"
	cases := []struct {
		name, installed string
		want            bool
	}{
		{"identical", rendered, true},
		{"other comments, blank lines, indentation", "# installed by terraform\n\n  path \"a\" { capabilities = [\"read\"] }\n# b:\npath \"b\" { capabilities = [\"list\"] }", true},
		{"a rule more", rendered + "path \"*\" { capabilities = [\"sudo\"] }\n", false},
		{"a capability more", "path \"a\" { capabilities = [\"read\", \"update\"] }\npath \"b\" { capabilities = [\"list\"] }", false},
		{"a rule commented out", "path \"a\" { capabilities = [\"read\"] }\n# path \"b\" { capabilities = [\"list\"] }", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameRules(tc.installed, rendered); got != tc.want {
				t.Fatalf("sameRules = %v, want %v", got, tc.want)
			}
		})
	}
}
