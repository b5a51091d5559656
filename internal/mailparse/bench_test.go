package mailparse

import (
	"os"
	"testing"
)

// BenchmarkParseCorpus parses every corpus message once per iteration.
func BenchmarkParseCorpus(b *testing.B) {
	var raws [][]byte
	for _, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, raw := range raws {
			if _, err := Parse(raw, DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
