package plugin

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkInboxIndexMemory measures the heap one indexed message costs,
// for the memory formula of max_loaded_inboxes (docs/benchmarks.md): an
// index of indexMemoryMessages summaries, shaped like typical verification
// mail and at every field's cap, is built and its heap measured after a
// collection.
//
//	go test ./plugin -run '^$' -bench InboxIndexMemory -benchtime 1x
func BenchmarkInboxIndexMemory(b *testing.B) {
	for _, shape := range []struct {
		name string
		make func(i int) *inboxSummary
	}{{"typical", typicalSummary}, {"max", maxSummary}} {
		b.Run(shape.name, func(b *testing.B) {
			var perMsg float64
			for b.Loop() {
				perMsg = indexBytesPerMessage(shape.make)
			}
			b.ReportMetric(perMsg, "bytes/message")
		})
	}
}

const indexMemoryMessages = 20_000

// indexBytesPerMessage builds an index and returns its heap per message.
func indexBytesPerMessage(mk func(i int) *inboxSummary) float64 {
	before := heapInUse()
	idx := newInboxIndex(0)
	for i := range indexMemoryMessages {
		idx.add(mk(i)) // the index keeps a copy, sharing the strings
	}
	after := heapInUse()
	runtime.KeepAlive(idx)
	return float64(after-before) / indexMemoryMessages
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// typicalSummary is a verification mail's summary: a sender with a display
// name, a short subject, a code, an unread message with its own Message-ID.
func typicalSummary(i int) *inboxSummary {
	id := fmt.Sprintf("%064x", i) // bus.MessageID: a SHA-256 in hex
	at := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return &inboxSummary{
		Key: inboxKey(at, id), ID: id, StoredAt: at, ReceivedAt: at,
		From: "Example Service <no-reply@accounts.example.com>", FromAddress: "no-reply@accounts.example.com",
		Subject:      fmt.Sprintf("Your verification code is %06d", i%1_000_000),
		SenderDomain: "accounts.example.com", Trust: "verified", TrustReason: "dkim pass, aligned with accounts.example.com",
		Code: fmt.Sprintf("%06d", i%1_000_000), Size: 6_000, Unread: true, RecChunks: 1, Combined: true, Embedded: true,
		MessageID: fmt.Sprintf("%d.%d@mail.accounts.example.com", i, i*7),
	}
}

// maxSummary has every field at its cap (maxSummary*, maxThreadRefs IDs of
// maxThreadIDLen): the worst case.
func maxSummary(i int) *inboxSummary {
	s := typicalSummary(i)
	long := func(n int) string { return fmt.Sprintf("%d", i) + strings.Repeat("x", n-len(fmt.Sprintf("%d", i))) }
	s.From, s.Subject, s.FromAddress, s.TrustReason = long(maxSummaryFrom), long(maxSummarySubject), long(maxSummaryAddress), long(maxSummaryReason)
	s.SenderDomain = long(253)
	s.MessageID, s.InReplyTo = long(maxThreadIDLen), long(maxThreadIDLen)
	for range maxThreadRefs {
		s.References = append(s.References, long(maxThreadIDLen))
	}
	return s
}
