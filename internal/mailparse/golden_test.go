package mailparse

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/domain"
)

// The golden file pins the complete output of Parse (and of Analyse on a
// few variants of each message's bodies) for the corpus, the seeds of
// FuzzParse and the benchmark mail, so that a change meant to make the
// analysis faster cannot change what it finds. A frozen copy of the
// earlier analysis, compared line by line, also catches what the corpus
// does not exercise: docs/benchmarks.md ("Notes moved from code comments")
// says where one is. Regenerate the golden file only for a change meant to
// alter results:
//
//	go test ./internal/mailparse/ -run TestGolden -update-golden
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden.json")

const goldenFile = "testdata/golden.json"

type goldenInput struct {
	name string
	raw  []byte
}

func goldenInputs(t testing.TB) []goldenInput {
	var in []goldenInput
	for _, f := range corpusFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, goldenInput{"corpus/" + strings.TrimSuffix(filepath.Base(f), ".eml"), raw})
	}
	// The other seeds of FuzzParse, and the benchmark mail.
	in = append(in,
		goldenInput{"seed/empty", []byte("")},
		goldenInput{"seed/subject-only", []byte("Subject: x\r\n\r\n")},
		goldenInput{"seed/multipart3", multipartN(3)},
		goldenInput{"seed/nested3", nested(3)},
		goldenInput{"bench/verification4k", benchVerification()},
	)
	return in
}

// goldenRecord is what the golden file holds for one input.
type goldenRecord struct {
	Message any    `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
	// Analyse on variants of the message's bodies.
	TextOnly Analysis `json:"text_only"`
	HTMLOnly Analysis `json:"html_only"`
	Quoted   Analysis `json:"quoted"`
	Upper    Analysis `json:"upper"`
}

func (a Analysis) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ExtractedText string `json:"extracted_text"`
		Codes         any    `json:"codes"`
		Links         any    `json:"links"`
	}{a.ExtractedText, a.Codes, a.Links})
}

func goldenOutputs(t testing.TB) map[string]goldenRecord {
	lim := Limits{MaxParts: 50, MaxDepth: 5, MaxHeaderBytes: 64 << 10} // FuzzParse's
	out := map[string]goldenRecord{}
	for _, in := range goldenInputs(t) {
		var rec goldenRecord
		msg, err := Parse(in.raw, DefaultLimits())
		if err != nil {
			var ie *InternalError
			if errors.As(err, &ie) {
				t.Fatalf("%s: panic: %v", in.name, ie.Panic)
			}
			rec.Error = err.Error()
		} else {
			rec.Message = msg
			if m2, err2 := Parse(in.raw, lim); err2 != nil || m2.ExtractedText != msg.ExtractedText {
				t.Fatalf("%s: fuzz limits change the result", in.name)
			}
			sender := domain.OfAddress(msg.FromAddress)
			rec.TextOnly = Analyse(msg.Subject, msg.Text, "", "", sender)
			rec.HTMLOnly = Analyse(msg.Subject, "", msg.HTML, "", sender)
			// The message quoted in a reply, in a forward.
			quoted := "Thanks, see below.\n\nOn Mon, 3 Mar 2025 at 10:02, Someone <someone@example.com> wrote:\n> " +
				strings.ReplaceAll(msg.Text, "\n", "\n> ")
			rec.Quoted = Analyse("Fwd: "+msg.Subject, quoted, "", "<https://example.com/unsub?id=1>", sender)
			rec.Upper = Analyse(strings.ToUpper(msg.Subject), strings.ToUpper(msg.Text), strings.ToUpper(msg.HTML), "", sender)
		}
		out[in.name] = rec
	}
	return out
}

func TestGolden(t *testing.T) {
	got, err := json.MarshalIndent(goldenOutputs(t), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *updateGolden {
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (generate it with -update-golden)", err)
	}
	if string(got) == string(want) {
		return
	}
	var g, w map[string]json.RawMessage
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	for name := range w {
		if _, ok := g[name]; !ok {
			t.Errorf("%s: missing", name)
		}
	}
	for name, gv := range g {
		wv, ok := w[name]
		if !ok {
			t.Errorf("%s: not in the golden file", name)
			continue
		}
		if string(gv) != string(wv) {
			t.Errorf("%s differs:\ngot  %s\nwant %s", name, gv, wv)
		}
	}
}
