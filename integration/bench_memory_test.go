package integration

import (
	"fmt"
	"net/smtp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The relay's memory with many senders at once: memoryBenchSessions SMTP
// sessions open together, each sending the corpus's real-world mails (each
// send unique) back to back, memoryBenchPerSession each, through the whole
// stack (dev storage; the plugin drains the stream meanwhile). The relay's
// resident memory is sampled every 50 ms; its peak (VmHWM) is the figure,
// against the budget of 64 MiB (issue 15).
//
//	go test -run '^$' -bench BenchmarkRelayMemory -benchtime 1x ./integration/

const (
	memoryBenchSessions   = 100
	memoryBenchPerSession = 20
	memoryBenchBudget     = 64 << 20
)

func BenchmarkRelayMemory(b *testing.B) {
	// The sessions all come from loopback: the per-IP session cap (20 by
	// default, against one host opening hundreds) is raised for them.
	env := startInboundBench(b, "dev", loadBenchCorpus(b), "-max-sessions-per-ip", fmt.Sprint(2*memoryBenchSessions))
	idle, _ := env.relayProc.Memory()
	b.Run("sessions", func(b *testing.B) {
		var peak, sampled int64
		var sent int
		for b.Loop() {
			if sent > 0 {
				continue // one measurement per run
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the sampler
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
						if rss, _ := env.relayProc.Memory(); rss > sampled {
							sampled = rss
						}
					}
				}
			}()
			n, err := manySessions(env, memoryBenchSessions, memoryBenchPerSession)
			close(stop)
			wg.Wait()
			if err != nil {
				b.Fatal(err)
			}
			sent = n
			_, peak = env.relayProc.Memory()
		}
		b.ReportMetric(float64(idle)/(1<<20), "idle_rss_MiB")
		b.ReportMetric(float64(sampled)/(1<<20), "max_sampled_rss_MiB")
		b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
		b.Logf("relay memory: idle %.1f MiB; %d sessions at once sending %d corpus mails: largest sample %.1f MiB, peak (VmHWM) %.1f MiB (budget %d MiB: %s)",
			float64(idle)/(1<<20), memoryBenchSessions, sent, float64(sampled)/(1<<20), float64(peak)/(1<<20), memoryBenchBudget>>20, inboundMet(peak <= memoryBenchBudget))
	})
}

// manySessions opens sessions SMTP sessions at once (all greeted before
// any sends) and sends perSession corpus mails on each; every one must get
// 250.
func manySessions(env *inboundEnv, sessions, perSession int) (int, error) {
	conns := make([]*smtp.Client, sessions)
	for i := range conns {
		c, err := inboundDial(env.relay)
		if err != nil {
			return 0, fmt.Errorf("session %d: %w", i, err)
		}
		conns[i] = c
		defer c.Close()
	}
	tag := inboundLetters(uint64(time.Now().UnixNano()), 8)
	var (
		wg     sync.WaitGroup
		sent   atomic.Int64
		failed atomic.Pointer[error]
	)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSession {
				raw := env.corpusShape.make(env.to, fmt.Sprintf("%sm%03d", tag, i), j)
				if _, err := inboundSend(c, env.to, raw); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return int(sent.Load()), *err
	}
	return int(sent.Load()), nil
}
