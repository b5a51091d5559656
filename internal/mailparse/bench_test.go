package mailparse

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkParseCorpus parses every corpus message once per iteration.
func BenchmarkParseCorpus(b *testing.B) {
	raws := corpusRaws(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, raw := range raws {
			if _, err := Parse(raw, DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkParseCorpusPerMail times each corpus mail's Parse on its own
// and reports the mean and p99 per mail over every parse (mail × round),
// with the slowest mails (by median) in the log: where the corpus's time
// goes, mail by mail. cpu-ms/mail is the process's CPU time (garbage
// collection included) per mail, which other processes on a shared
// machine disturb less than the wall time.
func BenchmarkParseCorpusPerMail(b *testing.B) {
	files := corpusFiles(b)
	raws := make([][]byte, len(files))
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = raw
	}
	perMail := make([][]time.Duration, len(raws))
	cpuStart := processCPU(b)
	for b.Loop() {
		for i, raw := range raws {
			start := time.Now()
			if _, err := Parse(raw, DefaultLimits()); err != nil {
				b.Fatal(err)
			}
			perMail[i] = append(perMail[i], time.Since(start))
		}
	}
	cpu := processCPU(b) - cpuStart
	var all []time.Duration
	var total time.Duration
	medians := make([]time.Duration, len(raws))
	for i, ds := range perMail {
		all = append(all, ds...)
		for _, d := range ds {
			total += d
		}
		slices.Sort(ds)
		medians[i] = ds[len(ds)/2]
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(total)/float64(len(all)), "ms/mail")
	b.ReportMetric(ms(all[(len(all)*99)/100]), "p99-ms/mail")
	b.ReportMetric(ms(cpu)/float64(len(all)), "cpu-ms/mail")
	order := make([]int, len(raws))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return int(medians[y] - medians[x]) })
	for _, i := range order[:min(8, len(order))] {
		b.Logf("%8.3f ms  %6d bytes  %s", ms(medians[i]), len(raws[i]), filepath.Base(files[i]))
	}
}

// BenchmarkParseMIMECorpus runs only the MIME part of Parse (the limits,
// enmime, the part tree) on every corpus mail: what parsing costs before
// any analysis, the floor under BenchmarkParseCorpusPerMail.
func BenchmarkParseMIMECorpus(b *testing.B) {
	raws := corpusRaws(b)
	cpuStart := processCPU(b)
	for b.Loop() {
		for _, raw := range raws {
			if _, err := parseMIME(raw, DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
	}
	mails := float64(b.N * len(raws))
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/mails, "ms/mail")
	b.ReportMetric(float64(processCPU(b)-cpuStart)/float64(time.Millisecond)/mails, "cpu-ms/mail")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchVerification is a 4 KiB plain-text verification mail like the ones
// of the inbound benchmark (integration/bench_inbound_test.go).
func benchVerification() []byte {
	var m strings.Builder
	m.WriteString("From: Example Service <noreply@service.example.com>\r\nTo: bench@agents.mailgent.test\r\n" +
		"Subject: Your code abcdefgh\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <abc-1@service.example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hi,\r\n\r\nYour verification code is 739142. It expires in ten minutes.\r\n\r\n")
	filler := []string{
		"If you did not ask for this, you can ignore this message; nobody can",
		"sign in without the code, and it stops working when it expires. We",
		"will never ask you for it by phone or by mail, and our support team",
		"does not need it to help you. Keep it to yourself and enter it only",
		"on our own site, in the window where you asked for it a moment ago.",
	}
	for i := 0; m.Len() < 4000; i++ {
		m.WriteString(filler[i%len(filler)] + "\r\n")
	}
	m.WriteString("\r\nThe Example team\r\n")
	return []byte(m.String())
}

// BenchmarkParseVerification4K parses one 4 KiB verification mail.
func BenchmarkParseVerification4K(b *testing.B) {
	raw := benchVerification()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// corpusRaws reads every corpus mail.
func corpusRaws(b *testing.B) [][]byte {
	var raws [][]byte
	for _, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
	}
	return raws
}
