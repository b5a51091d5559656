// Package mailparse parses a raw email into the shared mailmsg.Message and
// analyses it for an AI agent: the text worth reading, candidate
// verification codes and ranked links.
//
// MIME parsing is enmime's, behind limits enmime does not have (see
// Limits); the analysis is this package's own. Parse runs both; Analyse
// runs the analysis on bodies already decoded.
//
// # Where things are
//
// From raw bytes to a message:
//   - parse.go: Parse and AttachmentContent; enmime, the repair of a
//     missing boundary, attachments, the fallback for what enmime refuses.
//   - headers.go: the header fields (From, To, Date, Message-ID, …).
//   - limits.go: Limits and LimitError; the pre-scan before enmime and
//     the check of the part tree after it.
//
// The analysis, in the order Analyse runs it (analyse.go):
//   - normalize.go: line ends, white space, invisible characters, UTF-8.
//   - render.go: HTML to the text a reader sees (RenderHTML), with the
//     emphasised snippets and the links.
//   - style.go, css.go, colour.go, visibility.go: what a reader sees of an
//     element: its declarations (style attribute and <style> sheets), its
//     colours and their contrast, and what hides it.
//   - quotes.go: where a reply's quoted history starts; forwards.
//   - boilerplate.go: StripBoilerplate: footers, signatures, sign-offs.
//   - address.go: postal address lines (footers, and numbers that are no
//     code).
//   - codes.go: ExtractCodes: candidates, their context and their rank.
//   - tokens.go: what looks like a code on a line.
//   - keywords.go: the words that make a number near them a code, or not.
//   - scoring.go: the weight of each piece of evidence, and scoreToken.
//   - links.go: ClassifyLink, and how the links are found and ranked.
//   - align.go: a link's host, its alignment with the sender, look-alikes.
//
// The fast paths, each beside the rule it speeds up and held to it by
// fastpath_test.go:
//   - altmatch.go: altRe, a case-insensitive list of alternatives
//     matched alternative by alternative: one byte pass finds which of
//     their literals a line holds, byte tests decide the alternatives
//     that are literals (with \b, ^, $), the expression only the rest;
//     its literal stage is also the keyword expressions' prefilter;
//   - the other prefilters (mayBe…): cheap literal tests before a large
//     expression, which may only rule out lines it cannot match; ascii.go
//     holds the byte-level helpers they share;
//   - wordstart.go: the keyword expressions tried at word starts only,
//     and there only the alternatives that can start there;
//   - linecache.go: the line checks memoised for one message;
//   - normalizeText's single pass (normalizeTextSlow is its definition),
//     matchAddress (addressRe), hostCache (urlHost), digitRuns and
//     alnumRuns (digitSeqRe, alnumSeqRe), collapseWSRuns (wsRun),
//     hasCodeModifier (codeModifierRe), dateHeader's first layout
//     (mail.ParseDate).
//
// The golden file (testdata/golden.json, golden_test.go) pins the whole
// output for the corpus; what each corpus mail must yield is in
// testdata/mail/*.expect.json at the repository root (corpus_test.go).
package mailparse
